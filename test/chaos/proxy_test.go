package chaos

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is a TCP proxy on 127.0.0.1 between the service and
// PostgreSQL that can make the database slow and reset connections in the
// middle of a query. The service is pointed at the proxy; the test talks to
// PostgreSQL directly.
//
// Latency delays every chunk the client sends (queries) before it reaches
// the server, so each round trip takes at least that long. Resetting closes
// a connection with SO_LINGER 0 (the peer sees ECONNRESET) right after a
// query was read from the client and before it is forwarded, so the client
// is always mid-query when it happens.
//
// The connection that sent LISTEN (the change feed) is exempt from resets:
// a reset there makes the listener reconnect and purge every cache by
// design, which is a different fault (see TestChaos/listen_killed); this
// one is about slow and broken queries.
type faultProxy struct {
	ln     net.Listener
	target string

	latency   atomic.Int64 // ns added to every client→server chunk
	resetEach atomic.Int64 // reset every n-th query chunk (0: never)
	chunks    atomic.Int64
	resets    atomic.Int64

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	listener       atomic.Bool // sent LISTEN
	once           sync.Once
}

// reset closes both sides with SO_LINGER 0: the peers see ECONNRESET.
func (c *proxyConn) reset() { c.shut(true) }

// close closes both sides normally.
func (c *proxyConn) close() { c.shut(false) }

func (c *proxyConn) shut(rst bool) {
	c.once.Do(func() {
		for _, n := range []net.Conn{c.client, c.server} {
			if tc, ok := n.(*net.TCPConn); ok && rst {
				_ = tc.SetLinger(0)
			}
			_ = n.Close()
		}
	})
}

// newFaultProxy listens on 127.0.0.1 and forwards to target until t ends.
func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is host:port of the proxy.
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// SetLatency delays every query by d (0: none).
func (p *faultProxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetResetEvery resets the connection carrying every n-th query (0: never).
func (p *faultProxy) SetResetEvery(n int) { p.resetEach.Store(int64(n)) }

// Resets is how many connections were reset mid-query.
func (p *faultProxy) Resets() int64 { return p.resets.Load() }

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pc.reset()
			return
		}
		p.conns[pc] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.upstream(pc)
		go p.downstream(pc)
	}
}

// upstream copies client → server, injecting latency and resets.
func (p *faultProxy) upstream(pc *proxyConn) {
	defer p.wg.Done()
	defer p.drop(pc)
	buf := make([]byte, 32<<10)
	for {
		n, err := pc.client.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			// A simple-protocol Query message ('Q') naming LISTEN marks the
			// change feed's connection.
			if chunk[0] == 'Q' && bytes.Contains(bytes.ToUpper(chunk), []byte("LISTEN ")) {
				pc.listener.Store(true)
			}
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d) // the injected fault itself, not a wait for an event
			}
			k := p.chunks.Add(1)
			if every := p.resetEach.Load(); every > 0 && k%every == 0 && !pc.listener.Load() {
				p.resets.Add(1)
				pc.reset()
				return
			}
			if _, werr := pc.server.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// downstream copies server → client unchanged.
func (p *faultProxy) downstream(pc *proxyConn) {
	defer p.wg.Done()
	defer p.drop(pc)
	_, _ = io.Copy(pc.client, pc.server)
}

func (p *faultProxy) drop(pc *proxyConn) {
	pc.close()
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		c.reset()
	}
	p.wg.Wait()
}
