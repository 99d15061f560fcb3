package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// SharedLibs returns the shared libraries (and the dynamic loader) that the
// dynamically linked executables among files need, as this machine's loader
// resolves them (`ldd`), each mapped to the path the loader found it at, so
// that the same loader finds it there in the image. Static binaries and
// folders add nothing. This is how a distribution's program (Debian's
// redis-server) goes into an image without a package manager in it.
func SharedLibs(files []Mapping) ([]Mapping, error) {
	seen := map[string]bool{}
	for _, m := range files {
		if m.Dest != "" {
			seen[path.Clean(m.Dest)] = true
		}
	}
	var out []Mapping
	for _, m := range files {
		dyn, err := isDynamicELF(m.Src)
		if err != nil {
			return nil, err
		}
		if !dyn {
			continue
		}
		libs, err := lddPaths(m.Src)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			if seen[l] {
				continue
			}
			seen[l] = true
			// The image gets a regular file at the path the loader asked for
			// (e.g. /lib64/ld-linux-x86-64.so.2, a symbolic link on the host).
			out = append(out, Mapping{Src: l, Dest: l})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dest < out[j].Dest })
	return out, nil
}

// isDynamicELF reports whether file is an ELF executable with a program
// interpreter (a dynamic loader). Folders and non-ELF files are not.
func isDynamicELF(file string) (bool, error) {
	st, err := os.Stat(file)
	if err != nil {
		return false, err
	}
	if st.IsDir() {
		return false, nil
	}
	f, err := elf.Open(file)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return false, nil // not an ELF file: a script, a text file
		}
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

// lddPaths runs ldd on file and returns the absolute paths of what it
// resolves: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the
// loader line "/lib64/ld-linux-x86-64.so.2 (0x...)". A library ldd cannot
// find is an error: the image would not start.
func lddPaths(file string) ([]string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ldd", abs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w %s", file, err, strings.TrimSpace(stderr.String()))
	}
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		name, target, arrow := strings.Cut(line, "=>")
		if !arrow {
			target = name
		}
		target = strings.TrimSpace(target)
		if strings.HasPrefix(target, "not found") {
			return nil, fmt.Errorf("ldd %s: %s is not found on this machine", file, strings.TrimSpace(name))
		}
		if i := strings.Index(target, " ("); i >= 0 {
			target = target[:i]
		}
		if !strings.HasPrefix(target, "/") {
			continue // linux-vdso.so.1: in the kernel, not a file
		}
		paths = append(paths, path.Clean(target))
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("ldd %s: no libraries in its output %q", file, b)
	}
	return paths, nil
}
