//go:build !linux

package bench

// TreeCPU is not measured where there is no /proc.
func TreeCPU() (float64, bool) { return 0, false }

// readStatusKB is not read where there is no /proc.
func readStatusKB(string) uint64 { return 0 }

// processRSS is not read where there is no /proc.
func processRSS(int) uint64 { return 0 }

// treeProcs is not listed where there is no /proc.
func treeProcs() []int { return nil }

// processCPU is not measured where there is no /proc.
func processCPU(int) float64 { return 0 }
