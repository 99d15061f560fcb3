package tune

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// stateCache keeps each trial's JSON from the last save: a save encodes
// only the trials that changed since. With thousands of trials, encoding
// them all at every save held the tuner's loop (and every trial waiting
// on it) for milliseconds ten times a second.
type stateCache struct {
	trials map[*TrialResult]cachedTrial
	buf    bytes.Buffer
}

type cachedTrial struct {
	mark trialMark
	json []byte
}

// trialMark changes whenever a trial does: every change of a trial
// replaces one of these (its status, error or stop flag, a result
// appended or dropped, a new metrics map, checkpoint or config).
type trialMark struct {
	status, err   string
	stopped       bool
	results       int
	metrics, conf uintptr
	checkpoint    *Checkpoint
}

func markOf(tr *TrialResult) trialMark {
	return trialMark{status: tr.Status, err: tr.Error, stopped: tr.Stopped, results: len(tr.History),
		metrics: mapID(tr.Metrics), conf: mapID(tr.Config), checkpoint: tr.Checkpoint}
}

func mapID(m any) uintptr {
	v := reflect.ValueOf(m)
	if !v.IsValid() || v.IsNil() {
		return 0
	}
	return v.Pointer()
}

// encode is the experiment as json.Marshal writes it, from the cache.
func (c *stateCache) encode(exp *experiment) ([]byte, error) {
	if c.trials == nil {
		c.trials = map[*TrialResult]cachedTrial{}
	}
	head, err := json.Marshal(struct {
		Name      string `json:"name"`
		Trainable string `json:"trainable"`
		Metric    string `json:"metric"`
		Mode      string `json:"mode"`
	}{exp.Name, exp.Trainable, exp.Metric, exp.Mode})
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	c.buf.Write(head[:len(head)-1])
	c.buf.WriteString(`,"trials":`)
	if exp.Trials == nil {
		c.buf.WriteString("null}")
		return c.buf.Bytes(), nil
	}
	c.buf.WriteByte('[')
	for i, tr := range exp.Trials {
		if i > 0 {
			c.buf.WriteByte(',')
		}
		m := markOf(tr)
		ct, ok := c.trials[tr]
		if !ok || ct.mark != m {
			b, err := json.Marshal(tr)
			if err != nil {
				return nil, err
			}
			ct = cachedTrial{mark: m, json: b}
			c.trials[tr] = ct
		}
		c.buf.Write(ct.json)
	}
	c.buf.WriteString("]}")
	return c.buf.Bytes(), nil
}

// save writes the experiment's state atomically (a temporary file renamed).
func (e *executor) save() error {
	e.lastSave = time.Now()
	b, err := e.state.encode(e.exp)
	if err != nil {
		return err
	}
	tmp := filepath.Join(e.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("tune: save the experiment: %w", err)
	}
	return os.Rename(tmp, filepath.Join(e.dir, stateFile))
}
