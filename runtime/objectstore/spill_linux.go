package objectstore

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// writeSpill writes data, an object's bytes, to a new spill file at path.
// room is the store memory data starts (nil for a heap object): from
// page-aligned memory the file is written with O_DIRECT, the disk reading
// the object's pages itself, with no copy into the page cache (a buffered
// write's copy cost the node more CPU time than any other step of a large
// sort) and no cached pages pushing out others; a spilled object is read
// once, if at all. Where O_DIRECT is refused (tmpfs, a file system or
// memory it does not suit), the write is buffered.
func writeSpill(path string, data, room []byte) error {
	n := len(data)
	padded := (n + directAlign - 1) &^ (directAlign - 1)
	if len(room) == 0 || cap(room) < padded || uintptr(unsafe.Pointer(&room[0]))%directAlign != 0 || n == 0 {
		return os.WriteFile(path, data, 0o644)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_DIRECT, 0o644)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return os.WriteFile(path, data, 0o644)
		}
		return err
	}
	buf := room[:padded]
	for off := 0; off < padded && err == nil; {
		var k int
		k, err = f.Write(buf[off:min(padded, off+directChunk)])
		off += k
	}
	if err == nil {
		err = f.Truncate(int64(n)) // the padding off
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		// Alignment the device does not take: buffered after all.
		return os.WriteFile(path, data, 0o644)
	}
	return err
}

const (
	// directAlign is the alignment O_DIRECT asks of offsets, lengths and
	// memory: the page size covers every logical block size.
	directAlign = 4096
	// directChunk is the most one write hands the disk.
	directChunk = 8 << 20
)
