//go:build !linux

package objectstore

import "os"

// writeSpill writes data, an object's bytes, to a new spill file at path
// (room, the store memory it starts, serves O_DIRECT on Linux).
func writeSpill(path string, data, _ []byte) error { return os.WriteFile(path, data, 0o644) }
