// Package ckpt is the one home of checkpoints on disk for Train and Tune:
// a directory written under a staging name, then committed — its metrics
// written into it and the directory renamed to checkpoint_NNNNNN in one
// step — so that a reader never sees half a checkpoint.
package ckpt

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Checkpoint is a committed checkpoint directory and the metrics reported
// with it.
type Checkpoint struct {
	Path    string             `json:"path"`
	Index   int                `json:"index"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

const (
	prefix        = "checkpoint_"
	stagingPrefix = ".staging_"
	metricsFile   = ".metrics.json"
)

// Dir is the path of checkpoint index under dir.
func Dir(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%06d", prefix, index))
}

// NewStaging makes an empty directory under dir to write a checkpoint
// into (tag tells whose it is).
func NewStaging(dir, tag string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := filepath.Join(dir, stagingPrefix+tag+"_"+hex.EncodeToString(b[:]))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("new checkpoint: %w", err)
	}
	return p, nil
}

// Commit makes the staged directory checkpoint index of dir, with metrics.
func Commit(staged, dir string, index int, metrics map[string]float64) (*Checkpoint, error) {
	b, err := json.Marshal(metrics)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(staged, metricsFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("checkpoint metrics: %w", err)
	}
	dst := Dir(dir, index)
	if err := os.Rename(staged, dst); err != nil {
		return nil, fmt.Errorf("commit checkpoint %d: %w", index, err)
	}
	return &Checkpoint{Path: dst, Index: index, Metrics: metrics}, nil
}

// ClearStaging removes dir's staging directories (a writer that died):
// only when no one is writing.
func ClearStaging(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagingPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load reads dir's committed checkpoints, oldest first (none if dir does
// not exist).
func Load(dir string) ([]*Checkpoint, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Checkpoint
	for _, e := range entries {
		name := e.Name()
		var index int
		if !e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, err := fmt.Sscanf(name[len(prefix):], "%d", &index); err != nil {
			continue
		}
		ck := &Checkpoint{Path: filepath.Join(dir, name), Index: index}
		if b, err := os.ReadFile(filepath.Join(ck.Path, metricsFile)); err == nil {
			_ = json.Unmarshal(b, &ck.Metrics)
		}
		out = append(out, ck)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}
