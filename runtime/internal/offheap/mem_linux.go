package offheap

import "syscall"

// alloc maps n bytes of anonymous memory, or takes them from the heap if
// the kernel refuses.
func alloc(n int) block {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return block{mem: make([]byte, n)}
	}
	return block{mem: b, mapped: true}
}

// release unmaps a mapping; heap memory goes to the collector once the
// arena lets go of it.
func release(b block) {
	if b.mapped {
		_ = syscall.Munmap(b.mem)
	}
}
