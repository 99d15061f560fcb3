// Package exehash names a program by the sha256 of its executable: an
// owner sends it with its lease requests and a node keys its executable
// cache and worker pools by it, so a worker always runs the exact program
// of the job it serves (see runtime/node's binary cache).
package exehash

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// File returns the sha256 hex digest of a file.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
