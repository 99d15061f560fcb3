package collective

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goray-dev/goray/runtime/auth"
)

// sharedMemoryHere: groups of this machine's processes use shared memory
// (Linux with a tmpfs /dev/shm).
var sharedMemoryHere = func() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	s, err := createSegment(2)
	if err != nil {
		return false
	}
	s.removeSegmentFile()
	s.unmap()
	return true
}()

func needSharedMemory(t *testing.T) {
	t.Helper()
	if !sharedMemoryHere {
		t.Skip("no shared memory here (Linux with a tmpfs /dev/shm)")
	}
}

// ourSegments are the segment files this process made and left.
func ourSegments() []string {
	m, _ := filepath.Glob(filepath.Join(shmDir, segPrefix+strconv.Itoa(os.Getpid())+"-*"))
	return m
}

// Operations larger than a segment go through it in many chunks, with
// parts whose lengths do not divide by the chunk's share: the results
// still match the reference, and no segment file is left.
func TestSharedMemoryInChunks(t *testing.T) {
	needSharedMemory(t)
	defer func(b int) { segmentBudget = b }(segmentBudget)
	for _, n := range []int{2, 3, 5} {
		data, _ := segmentLayout(n, 0)
		segmentBudget = data + (n+1)*8*n*3 // 3 float64s, 6 float32s of each part per chunk
		for _, l := range []int{1, 7, 1003} {
			t.Run(fmt.Sprintf("n%d/len%d", n, l), func(t *testing.T) {
				testAllReduce(t, n, l, Sum, Options{})
				testAllReduce(t, n, l, Max, Options{})
				testOtherOps(t, n, l, Options{})
			})
		}
	}
	if left := ourSegments(); len(left) > 0 {
		t.Fatalf("segment files left: %v", left)
	}
}

// One member that does not map the segment (one that opts out here; on
// another node or in another pod, one that cannot): every member agrees on
// the ring, the operations are right, and the segment's file is gone.
func TestOneMemberWithoutTheSegmentPutsTheGroupOnTheRing(t *testing.T) {
	needSharedMemory(t)
	const n = 4
	rdv := &MemoryRendezvous{}
	sec := auth.NewToken("t")
	want := reference[float32](n, 1000, Sum)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			g, err := Init(context.Background(), "one-without", n, r, Options{Rendezvous: rdv, Security: &sec, NoSharedMemory: r == 2})
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			if g.SharedMemory() {
				errs[r] = errors.New("uses shared memory that member 2 did not map")
				return
			}
			buf := input[float32](r, 1000)
			if errs[r] = AllReduce(context.Background(), g, buf, Sum); errs[r] == nil && !equal(buf, want) {
				errs[r] = errors.New("wrong result")
			}
		})
	}
	wg.Wait()
	noErrors(t, errs)
	if left := ourSegments(); len(left) > 0 {
		t.Fatalf("segment files left: %v", left)
	}
}

// A segment is mapped only with its nonce, by its size, from /dev/shm.
func TestOpenSegmentChecks(t *testing.T) {
	needSharedMemory(t)
	s, err := createSegment(3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.unmap()
	defer s.removeSegmentFile()
	path, nonce, ok := parseShmInfo(s.info())
	if !ok {
		t.Fatalf("info %q", s.info())
	}
	if o, err := openSegment(path, nonce, 3, 1); err != nil {
		t.Fatalf("the right nonce: %v", err)
	} else {
		o.unmap()
	}
	wrong := append([]byte(nil), nonce...)
	wrong[0] ^= 1
	if _, err := openSegment(path, wrong, 3, 1); err == nil {
		t.Error("mapped with another nonce")
	}
	if _, err := openSegment(path, nonce, 4, 1); err == nil {
		t.Error("mapped as a group of another size")
	}
	if _, err := openSegment("/etc/passwd", nonce, 3, 1); err == nil {
		t.Error("mapped a file outside /dev/shm")
	}
	if got := unpackInfo(packInfo(s.info())); got != s.info() {
		t.Errorf("info round trip: %q, want %q", got, s.info())
	}
}

// A rank 0 that died before the others mapped its segment leaves a file
// naming its process; the next segment made on the machine removes it.
func TestStaleSegmentsAreRemoved(t *testing.T) {
	needSharedMemory(t)
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skip(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(shmDir, fmt.Sprintf("%s%d-%x", segPrefix, p.Pid, 12345))
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(stale)
	s, err := createSegment(2)
	if err != nil {
		t.Fatal(err)
	}
	s.removeSegmentFile()
	s.unmap()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the stale segment of dead process %d is still there (%v)", p.Pid, err)
	}
}

func TestParseShmInfo(t *testing.T) {
	nonce := strings.Repeat("ab", segNonceLen)
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"shm /dev/shm/goray-collective-1-ff " + nonce, true},
		{"shm /dev/shm/x", false},
		{"tcp /dev/shm/x " + nonce, false},
		{"shm /dev/shm/x " + nonce[2:], false},
		{"shm /dev/shm/x zz" + nonce[2:], false},
		{"", false},
	} {
		if _, _, ok := parseShmInfo(c.in); ok != c.ok {
			t.Errorf("parseShmInfo(%q) ok=%v, want %v", c.in, ok, c.ok)
		}
	}
}
