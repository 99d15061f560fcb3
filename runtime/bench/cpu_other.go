//go:build !linux

package bench

// treeCPU is not measured where there is no /proc.
func treeCPU() (float64, bool) { return 0, false }

// readStatusKB is not read where there is no /proc.
func readStatusKB(string) uint64 { return 0 }
