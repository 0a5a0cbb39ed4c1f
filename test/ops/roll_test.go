package ops_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestRollingRestart rolls one of two replicas under load, the way a
// Deployment does: the replica leaves the Service's endpoints and gets
// SIGTERM at once, a new replica starts and joins. The client is Envoy-like
// — a few long-lived HTTP/2 connections through a virtual IP that picks a
// replica per new connection (kube-proxy, a ClusterIP) — so the only way a
// new replica gets traffic is that old connections end.
//
// With max_connection_age the connections cycle and the new replica carries
// traffic within max_connection_age + grace; with it off (0) the new
// replica gets nothing, which is what the setting is for. Either way not a
// single Check fails: the leaving replica keeps answering during
// shutdown_delay (which covers the moment the proxies still send it new
// connections), then drains.
func TestRollingRestart(t *testing.T) {
	for _, tc := range []struct {
		maxAge      string
		wantTraffic bool
	}{
		{maxAge: "1s", wantTraffic: true},
		{maxAge: "0s", wantTraffic: false},
	} {
		t.Run("max_connection_age="+tc.maxAge, func(t *testing.T) {
			db := pgtest.URL(t)
			opts := harness.Options{DatabaseURL: db, Config: baseConfig + "auto_register: true\n", Args: []string{
				"--shutdown-delay", "1s",
				"--grpc-server-max-connection-age", tc.maxAge, "--grpc-server-max-connection-age-grace", "2s",
			}}
			a := harness.Start(t, opts)
			b := harness.Start(t, opts)
			vip := newVIP(t, a.GRPCAddr, b.GRPCAddr)

			// Alice's session, in the shared database.
			r, err := a.Check(ctxTimeout(t, 5*time.Second), alice(""))
			if err != nil {
				t.Fatal(err)
			}
			cookie := "extauthz_session=" + harness.Read(r).SessionToken("extauthz_session")

			var conns []*grpc.ClientConn
			for range 4 {
				c, err := grpc.NewClient(vip.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				conns = append(conns, c)
			}
			load := startLoad(conns, alice(cookie), 20_000)

			time.Sleep(time.Second)
			if err := a.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// The endpoint's removal reaches the proxies a moment after the
			// pod got SIGTERM; until then new connections may still be sent
			// to it, and it must still take them (shutdown_delay).
			time.Sleep(500 * time.Millisecond)
			vip.remove(a.GRPCAddr)
			// The roll waits for the old replica to end, as maxUnavailable 0 does.
			if exited, err := a.Wait(20 * time.Second); !exited || err != nil {
				t.Fatalf("the old replica did not exit cleanly within 20s: exited %v, %v", exited, err)
			}
			c := harness.Start(t, opts)
			vip.add(c.GRPCAddr)
			time.Sleep(4 * time.Second) // more than max_connection_age + grace
			calls, failed := load.stop()

			served := decisions(t, c)
			t.Logf("%d checks, %d failed; the new replica answered %d of them over %d connections", calls, failed, served, vip.accepted(c.GRPCAddr))
			if failed > 0 {
				t.Errorf("%d of %d checks failed during the roll: %s", failed, calls, load.firstError())
			}
			if got := served > 0; got != tc.wantTraffic {
				t.Errorf("the new replica answered %d checks; want traffic: %v", served, tc.wantTraffic)
			}
		})
	}
}

// decisions is the number of gRPC Check decisions svc has made.
func decisions(t *testing.T, svc *harness.Service) int {
	t.Helper()
	code, body, err := svc.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	n := 0
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "extauthz_decisions_total{") && strings.Contains(line, `frontend="grpc"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

// load sends Checks over conns in a loop until stopped (or max calls); a
// failure is an RPC error or anything but 200 session_match.
type load struct {
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	max           int64
	calls, failed atomic.Int64
	mu            sync.Mutex
	firstErr      string
}

func startLoad(conns []*grpc.ClientConn, req harness.Request, maxCalls int64) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, max: maxCalls}
	for _, conn := range conns {
		l.wg.Go(func() {
			for ctx.Err() == nil && l.calls.Add(1) <= maxCalls {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				resp, err := harness.CheckOn(cctx, conn, req)
				ccancel()
				if ctx.Err() != nil {
					l.calls.Add(-1) // cut short by stop, not a failure
					return
				}
				why := ""
				if err != nil {
					why = err.Error()
				} else if got := harness.Read(resp); got.Status != 200 || got.Reason() != "session_match" {
					why = fmt.Sprintf("%d %s", got.Status, got.Reason())
				}
				if why != "" {
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstErr == "" {
						l.firstErr = why
					}
					l.mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return l
}

func (l *load) stop() (calls, failed int64) {
	l.cancel()
	l.wg.Wait()
	return min(l.calls.Load(), l.max), l.failed.Load()
}

func (l *load) firstError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstErr
}

// vip is a TCP proxy that picks a backend for each new connection, round
// robin, as a ClusterIP does; connections already made stay where they are.
type vip struct {
	addr     string
	mu       sync.Mutex
	backends []string
	next     int
	counts   map[string]int
}

func newVIP(t *testing.T, backends ...string) *vip {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &vip{addr: ln.Addr().String(), backends: backends, counts: map[string]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { v.pipe(c) })
		}
	})
	return v
}

func (v *vip) pick() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.backends) == 0 {
		return ""
	}
	b := v.backends[v.next%len(v.backends)]
	v.next++
	v.counts[b]++
	return b
}

func (v *vip) pipe(c net.Conn) {
	defer c.Close()
	b := v.pick()
	if b == "" {
		return
	}
	up, err := net.Dial("tcp", b)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (v *vip) remove(addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, b := range v.backends {
		if b == addr {
			v.backends = append(v.backends[:i], v.backends[i+1:]...)
			return
		}
	}
}

func (v *vip) add(addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.backends = append(v.backends, addr)
}

func (v *vip) accepted(addr string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.counts[addr]
}
