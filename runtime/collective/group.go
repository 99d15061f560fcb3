package collective

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
)

// DefaultTimeout bounds an operation (and forming the group) when the
// caller's context has no deadline, as Ray's collective timeout does.
const DefaultTimeout = 30 * time.Second

// ErrMemberLost is (wrapped in) the error of an operation that lost a
// member: its connection failed, or a member that saw such a failure
// closed its own. The group cannot be used again.
var ErrMemberLost = errors.New("collective: a member of the group was lost")

// Rendezvous is where members publish their addresses to find each other.
type Rendezvous interface {
	Put(ctx context.Context, key, value string) error
	// Get returns found false while the key is not there.
	Get(ctx context.Context, key string) (value string, found bool, err error)
	Delete(ctx context.Context, key string) error
}

// Options configure a member.
type Options struct {
	// Timeout bounds forming the group and each operation whose context
	// has no deadline (DefaultTimeout if 0).
	Timeout time.Duration
	// Rendezvous is where the members meet (the cluster's key-value store
	// if nil: ClusterRendezvous).
	Rendezvous Rendezvous
	// Host is the address to listen on (the node's IP in a worker,
	// 127.0.0.1 elsewhere, if empty).
	Host string
	// Security is the token (and TLS) the connections use (the process's,
	// from its environment, if nil).
	Security *auth.Config
	// NoSharedMemory keeps a group whose members are all on one machine
	// on the ring's TCP connections (by default they move their data
	// through shared memory: shm.go).
	NoSharedMemory bool
}

// Group is this process's membership in a collective group.
type Group struct {
	name       string
	size, rank int
	timeout    time.Duration
	rdv        Rendezvous
	lis        net.Listener
	next, prev net.Conn // to rank+1 (dialled) and from rank-1 (accepted)
	nextW      *bufio.Writer
	prevR      *bufio.Reader
	shm        *segment // the members' shared memory, if they all map it

	useShm bool // the operations go through shm (every member agreed)

	mu     sync.Mutex // one operation at a time
	seq    uint64
	broken error
	closed chan struct{}
	once   sync.Once
}

// Name is the group's name.
func (g *Group) Name() string { return g.name }

// Size is the number of members.
func (g *Group) Size() int { return g.size }

// Rank is this member's place in the group, from 0.
func (g *Group) Rank() int { return g.rank }

// SharedMemory says whether the members move their data through shared
// memory (all on one machine, each able to map it) rather than over the
// ring's TCP connections.
func (g *Group) SharedMemory() bool { return g.useShm }

// maxNameLen bounds a group's name (it travels in every handshake).
const maxNameLen = 256

// Init joins the group name of size members as rank: it listens, publishes
// its address, waits for the others' and connects to its neighbours in
// the ring (ctx, else the timeout, bounds the wait).
func Init(ctx context.Context, name string, size, rank int, opts Options) (*Group, error) {
	if name == "" || len(name) > maxNameLen {
		return nil, fmt.Errorf("collective: a group name of 1 to %d bytes, not %d", maxNameLen, len(name))
	}
	if size < 1 || rank < 0 || rank >= size {
		return nil, fmt.Errorf("collective: rank %d of a group of %d", rank, size)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	sec := opts.Security
	if sec == nil {
		s, err := auth.Process()
		if err != nil {
			return nil, err
		}
		sec = &s
	}
	g := &Group{name: name, size: size, rank: rank, timeout: opts.Timeout, rdv: opts.Rendezvous, closed: make(chan struct{})}
	if size == 1 {
		return g, nil
	}
	if g.rdv == nil {
		g.rdv = ClusterRendezvous{}
	}
	ctx, cancel := withTimeout(ctx, opts.Timeout)
	defer cancel()
	host := opts.Host
	if host == "" {
		host = defaultHost()
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("collective: listen: %w", err)
	}
	if sec.TLS != nil {
		lis = tls.NewListener(lis, sec.TLS.ServerConfig(true))
	}
	g.lis = lis
	if err := g.rdv.Put(ctx, g.key(rank), lis.Addr().String()); err != nil {
		g.Close()
		return nil, fmt.Errorf("collective: publish the address of rank %d: %w", rank, err)
	}
	accepted := make(chan error, 1)
	go func() { accepted <- g.accept(ctx, sec) }()
	err = g.dial(ctx, sec)
	if err != nil {
		_ = lis.Close() // ends the accept, whose error is then this one's consequence
	}
	if aerr := <-accepted; err == nil {
		err = aerr
	}
	if err != nil {
		g.Close()
		return nil, err
	}
	if err := g.joinSegment(ctx, opts.NoSharedMemory); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// joinSegment puts the group on shared memory if every member can map
// it: rank 0 makes a segment and sends its name round the ring (a
// Broadcast), each member tries to map it, and the ring agrees (a Min over
// each member's yes or no). The segment's file is removed once each member
// has it mapped or has given up.
func (g *Group) joinSegment(ctx context.Context, off bool) error {
	can := float32(0)
	if g.rank == 0 && !off {
		if seg, err := createSegment(g.size); err == nil {
			g.shm, can = seg, 1
		}
	}
	var info []float64
	if g.shm != nil {
		info = packInfo(g.shm.info())
	} else {
		info = packInfo("")
	}
	if err := Broadcast(ctx, g, info, 0); err != nil {
		if g.shm != nil {
			g.shm.removeSegmentFile()
		}
		return err
	}
	if g.rank != 0 && !off {
		if path, nonce, ok := parseShmInfo(unpackInfo(info)); ok {
			if seg, err := openSegment(path, nonce, g.size, g.rank); err == nil {
				g.shm, can = seg, 1
			}
		}
	}
	all := []float32{can}
	err := AllReduce(ctx, g, all, Min) // over the ring: useShm is not set yet
	if g.rank == 0 && g.shm != nil {
		g.shm.removeSegmentFile()
	}
	if err != nil {
		return err
	}
	if all[0] != 1 && g.shm != nil {
		g.shm.unmap()
		g.shm = nil
	}
	if g.shm != nil {
		g.useShm = true
	}
	return nil
}

func (g *Group) key(rank int) string { return g.name + "/" + strconv.Itoa(rank) }

// dial connects to rank+1, retrying while its address is not published or
// does not answer (it may still be starting, or be a stale address).
func (g *Group) dial(ctx context.Context, sec *auth.Config) error {
	peer := (g.rank + 1) % g.size
	var last error
	for {
		if addr, ok, err := g.rdv.Get(ctx, g.key(peer)); err != nil {
			last = err
		} else if ok {
			c, err := dialPeer(ctx, addr, sec)
			if err == nil {
				if err = g.hello(c, sec); err == nil {
					g.next, g.nextW = c, bufio.NewWriterSize(c, 256<<10)
					return nil
				}
				_ = c.Close()
			}
			last = err
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("collective: group %s: rank %d could not reach rank %d: %w", g.name, g.rank, peer, ctx.Err())
			if last != nil {
				err = fmt.Errorf("%w (last attempt: %w)", err, last)
			}
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func dialPeer(ctx context.Context, addr string, sec *auth.Config) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tune(c)
	if sec.TLS != nil {
		tc := tls.Client(c, sec.TLS.ClientConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return tc, nil
	}
	return c, nil
}

// hello is the dialler's side of the handshake: the group, its rank and
// the token; the acceptor answers one byte, 1 for yes.
func (g *Group) hello(c net.Conn, sec *auth.Config) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	b := []byte("GRC1")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(g.name)))
	b = append(b, g.name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(g.size))
	b = binary.LittleEndian.AppendUint32(b, uint32(g.rank))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(sec.Token)))
	b = append(b, sec.Token...)
	if _, err := c.Write(b); err != nil {
		return err
	}
	var ok [1]byte
	if _, err := io.ReadFull(c, ok[:]); err != nil {
		return fmt.Errorf("rank %d refused the connection: %w", (g.rank+1)%g.size, err)
	}
	if ok[0] != 1 {
		return fmt.Errorf("rank %d refused the connection (another group, or the token)", (g.rank+1)%g.size)
	}
	return nil
}

// accept takes the connection of rank-1; connections that do not say the
// right group, size and rank with the cluster's token are refused.
func (g *Group) accept(ctx context.Context, sec *auth.Config) error {
	stop := context.AfterFunc(ctx, func() { _ = g.lis.Close() })
	defer stop()
	want := (g.rank - 1 + g.size) % g.size
	for {
		c, err := g.lis.Accept()
		if err == nil {
			tune(c)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("collective: group %s: rank %d heard nothing from rank %d: %w", g.name, g.rank, want, ctx.Err())
			}
			return fmt.Errorf("collective: accept: %w", err)
		}
		if err := g.check(c, sec, want); err != nil {
			_, _ = c.Write([]byte{0})
			_ = c.Close()
			continue // a stranger, or a stale member: wait for the right one
		}
		if _, err := c.Write([]byte{1}); err != nil {
			_ = c.Close()
			continue
		}
		g.prev, g.prevR = c, bufio.NewReaderSize(c, 256<<10)
		return nil
	}
}

// check reads and checks a dialler's hello (bounded: a name of at most
// maxNameLen, a token of at most auth.MaxTokenLen).
func (g *Group) check(c net.Conn, sec *auth.Config, want int) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	var magic [6]byte
	if _, err := io.ReadFull(c, magic[:]); err != nil {
		return err
	}
	if string(magic[:4]) != "GRC1" {
		return errors.New("not a collective hello")
	}
	n := int(binary.LittleEndian.Uint16(magic[4:]))
	if n > maxNameLen {
		return errors.New("group name too long")
	}
	rest := make([]byte, n+10)
	if _, err := io.ReadFull(c, rest); err != nil {
		return err
	}
	name, size, rank := string(rest[:n]), int(binary.LittleEndian.Uint32(rest[n:])), int(binary.LittleEndian.Uint32(rest[n+4:]))
	tn := int(binary.LittleEndian.Uint16(rest[n+8:]))
	if tn > auth.MaxTokenLen {
		return errors.New("token too long")
	}
	tok := make([]byte, tn)
	if _, err := io.ReadFull(c, tok); err != nil {
		return err
	}
	if sec.Required && !sec.Valid(string(tok)) {
		return errors.New("bad token")
	}
	if name != g.name || size != g.size || rank != want {
		return fmt.Errorf("member %d of %s/%d, want %d of %s/%d", rank, name, size, want, g.name, g.size)
	}
	return nil
}

// Close leaves the group: its connections close (the other members'
// operations fail) and its address is withdrawn.
func (g *Group) Close() {
	g.once.Do(func() {
		close(g.closed)
		g.closeConns()
		if g.shm != nil {
			if g.rank == 0 {
				g.shm.removeSegmentFile() // if Init failed before the others mapped it
			}
			g.shm.breakSegment()
			// Unmapped once no operation of this member runs in it.
			g.mu.Lock()
			g.shm.unmap()
			g.mu.Unlock()
		}
		if g.rdv != nil && g.size > 1 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = g.rdv.Delete(ctx, g.key(g.rank))
			cancel()
		}
	})
}

func (g *Group) closeConns() {
	for _, c := range []io.Closer{g.lis, g.next, g.prev} {
		if c != nil {
			_ = c.Close()
		}
	}
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// socketBuffer is the kernel buffer each way of a member's connections:
// large transfers then take fewer wake-ups of sender and receiver. (A
// variable: the bandwidth benchmark tries other sizes.)
var socketBuffer = 4 << 20

// tune sizes a TCP connection's buffers (under TLS, the connection below).
func tune(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(socketBuffer)
		_ = tc.SetWriteBuffer(socketBuffer)
	}
}
