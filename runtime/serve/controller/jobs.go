package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/core"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
)

// job is a binary registered as a job so replicas can run from it.
type job struct {
	path, hash string
	id         string // the job's id in the GCS
	w          *core.Worker

	// catalog is what the binary registered (read through a catalog
	// actor). A job resumed after a head restart has none until a config
	// is applied to it again: its applications' options are in the
	// checkpoint, and reading it would need a worker, which a busy
	// cluster may not have free for a long time.
	catMu   sync.Mutex
	catalog *wire.Catalog
}

// jobFor is the job of a binary with its catalog: started (once per
// content hash) or the one the controller runs.
func (c *Controller) jobFor(ctx context.Context, bin binary) (*job, error) {
	j, created, err := c.startJob(ctx, bin, "")
	if err != nil {
		return nil, err
	}
	if _, err := j.readCatalog(ctx); err != nil {
		if created { // a binary no application runs from: no job for it
			c.mu.Lock()
			if c.jobs[bin.hash] == j {
				delete(c.jobs, bin.hash)
			}
			c.mu.Unlock()
			j.w.Shutdown()
		}
		return nil, err
	}
	return j, nil
}

// startJob is the job of a binary: the one the controller runs for its
// content hash, or a new one. With rejoin set (the job a restarted
// controller's checkpoint names) it first tries to take that job over,
// so the job list and the nodes' workers of the binary stay what they
// were; a new job is registered when the GCS no longer has it.
func (c *Controller) startJob(ctx context.Context, bin binary, rejoin string) (j *job, created bool, err error) {
	c.mu.Lock()
	j, ok := c.jobs[bin.hash]
	c.mu.Unlock()
	if ok {
		return j, false, nil
	}
	w, err := core.Start(core.Config{Security: c.cfg.Security, GcsAddress: c.cfg.GcsAddress, NodeAddress: c.cfg.NodeAddress, IP: c.cfg.NodeIP,
		Namespace: "serve", Logger: c.log})
	if err != nil {
		return nil, false, fmt.Errorf("start a core worker for %s: %w", bin.path, err)
	}
	err = errNoRejoin
	if rejoin != "" {
		if err = w.RejoinJob(ctx, bin.path, rejoin); err != nil {
			c.log.Printf("serve: cannot take over job %s of %s again (%v); registering a new job", rejoin, bin.path, err)
		}
	}
	if err != nil {
		if err := w.RegisterJob(ctx, bin.path); err != nil {
			w.Shutdown()
			return nil, false, err
		}
	}
	j = &job{path: bin.path, hash: bin.hash, id: w.JobID(), w: w}
	c.mu.Lock()
	if old, ok := c.jobs[bin.hash]; ok {
		c.mu.Unlock()
		w.Shutdown()
		return old, false, nil
	}
	c.jobs[bin.hash] = j
	c.mu.Unlock()
	return j, true, nil
}

// errNoRejoin: no job to take over.
var errNoRejoin = fmt.Errorf("no job to rejoin")

// readCatalog reads, once, the serve applications the job's binary
// registered.
func (j *job) readCatalog(ctx context.Context) (*wire.Catalog, error) {
	j.catMu.Lock()
	defer j.catMu.Unlock()
	if j.catalog != nil {
		return j.catalog, nil
	}
	id, err := j.w.NewActor(ctx, wire.CatalogClass, nil, core.ActorOptions{})
	var cat wire.Catalog
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = call(dctx, j.w, id, wire.CatalogDescribe, &cat)
		cancel()
		_ = j.w.KillActor(context.Background(), id, true)
	}
	if err != nil {
		if strings.Contains(err.Error(), "not registered in this binary") {
			return nil, bad("binary %s does not import goray's serve package (no serve applications are registered in it)", j.path)
		}
		return nil, fmt.Errorf("read the serve applications registered in %s: %w", j.path, err)
	}
	j.catalog = &cat
	return j.catalog, nil
}
