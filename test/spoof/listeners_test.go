package spoof

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/test/harness"
)

// attackConfig is the shape the service was attacked with: app plane with
// a bypass, unknown identities denied, mallory blocked; in memory.
const attackConfig = `log: {level: debug, format: json}
cookie: {secure: false}
apps:
  plane:
    bypass: [/god-mode]
    on_unknown_identity: deny
seed_profiles:
  - {email: alice@example.com, name: Alice}
  - {email: mallory@example.com, name: Mallory, blocked: true}
`

// rawHTTP sends one request, byte for byte, on a new connection to addr
// and reads the response.
func rawHTTP(t *testing.T, addr, method, target string, headers ...hdr) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: extauthz\r\nConnection: close\r\n", method, target)
	for _, x := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", x.name, x.value)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response of %s %s: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func wantStatus(t *testing.T, resp *http.Response, code int, reason string) {
	t.Helper()
	if resp.StatusCode != code || resp.Header.Get("X-Extauthz-Reason") != reason {
		t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Extauthz-Reason"), code, reason)
	}
}

// TestCheckTrustsOnlyItsProxysHeaders: Traefik and Caddy pass the client's
// X-Original-URI through, nginx's auth subrequest passes a client's
// X-Forwarded-Uri: neither may choose the path judged (issue item 1).
func TestCheckTrustsOnlyItsProxysHeaders(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: attackConfig})
	secret := hdr{"X-Forwarded-Uri", "/api/workspaces/secret"}
	god := hdr{"X-Original-URI", "/god-mode"}
	cookie := hdr{"Cookie", "session-id=M"}

	t.Run("blocked mallory on /check with X-Original-URI", func(t *testing.T) {
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", god, secret, cookie, emailH("mallory@example.com"))
		wantStatus(t, resp, 403, "profile_blocked")
	})
	t.Run("unknown identity on /check with X-Original-URI", func(t *testing.T) {
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", god, secret, emailH("carol@example.com"))
		wantStatus(t, resp, 401, "identity_unknown")
	})
	t.Run("X-Original-Method on /check", func(t *testing.T) {
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", god, hdr{"X-Original-Method", "OPTIONS"}, emailH("mallory@example.com"))
		wantStatus(t, resp, 403, "profile_blocked")
	})
	t.Run("blocked mallory on /nginx/check with X-Forwarded-Uri", func(t *testing.T) {
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/nginx/check/plane", hdr{"X-Forwarded-Uri", "/god-mode"}, emailH("mallory@example.com"))
		wantStatus(t, resp, 403, "profile_blocked")
	})
	t.Run("the proxy's own header still bypasses", func(t *testing.T) {
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", hdr{"X-Forwarded-Uri", "/god-mode"}, emailH("mallory@example.com"))
		wantStatus(t, resp, 200, "bypass")
		resp = rawHTTP(t, svc.CheckAddr, "GET", "/nginx/check/plane", god, emailH("mallory@example.com"))
		wantStatus(t, resp, 200, "bypass")
	})
}

// TestHTTPCheckHasItsOwnListener: the check trusts identity headers and can
// mint sessions, so it is never on the ops listener (which is often
// reachable by monitoring), only on check_addr, and off without it.
func TestHTTPCheckHasItsOwnListener(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: attackConfig})
	alice := emailH("alice@example.com")
	for _, p := range []string{"/check", "/check/plane", "/nginx/check", "/nginx/check/plane"} {
		if resp := rawHTTP(t, svc.HTTPAddr, "GET", p, alice); resp.StatusCode != 404 {
			t.Errorf("ops listener answers %s with %d, want 404", p, resp.StatusCode)
		}
	}
	resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", alice)
	wantStatus(t, resp, 200, "rekey")
	for _, p := range []string{"/metrics", "/readyz", "/healthz", "/debug/pprof/"} {
		if resp := rawHTTP(t, svc.CheckAddr, "GET", p); resp.StatusCode != 404 {
			t.Errorf("check listener answers %s with %d, want 404", p, resp.StatusCode)
		}
	}
	if resp := rawHTTP(t, svc.HTTPAddr, "GET", "/readyz"); resp.StatusCode != 200 {
		t.Errorf("/readyz on the ops listener: %d", resp.StatusCode)
	}

	off := harness.Start(t, harness.Options{Config: attackConfig, Args: []string{"--check-addr="}})
	if resp := rawHTTP(t, off.HTTPAddr, "GET", "/check/plane", alice); resp.StatusCode != 404 {
		t.Errorf("check_addr empty: the ops listener answers /check/plane with %d, want 404", resp.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", off.CheckAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("check_addr empty: something listens on %s", off.CheckAddr)
	}
}

// closedWithin reports whether the server closes conn within d (reads
// until EOF or a reset).
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// keepAlive sends one keep-alive request on conn and reads its response.
func keepAlive(t *testing.T, conn net.Conn, r *bufio.Reader, method, target, extra string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: extauthz\r\n%s\r\n", method, target, extra); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = conn.SetDeadline(time.Time{})
}

// TestHTTPServersBoundConnections: idle keep-alive connections and requests
// whose body never comes are closed (both listeners), and open connections
// are capped (issue item 10).
func TestHTTPServersBoundConnections(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: attackConfig + `http_server: {read_header_timeout: 1s, read_timeout: 1s, idle_timeout: 1s}
`})
	for _, l := range []struct{ name, addr, path string }{
		{"check", svc.CheckAddr, "/check/plane"}, {"ops", svc.HTTPAddr, "/healthz"},
	} {
		t.Run(l.name+" idle keep-alive", func(t *testing.T) {
			conn, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			keepAlive(t, conn, bufio.NewReader(conn), "GET", l.path, "")
			if !closedWithin(conn, 15*time.Second) {
				t.Errorf("an idle keep-alive connection is still open 15s later (idle_timeout 1s)")
			}
		})
		t.Run(l.name+" body never sent", func(t *testing.T) {
			conn, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: extauthz\r\nContent-Length: 1000\r\n\r\n", l.path); err != nil {
				t.Fatal(err)
			}
			if !closedWithin(conn, 15*time.Second) {
				t.Errorf("a request whose body never comes holds its connection 15s later (read_timeout 1s)")
			}
		})
		t.Run(l.name+" headers never finished", func(t *testing.T) {
			conn, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: extauthz\r\nX-Slow: 1\r\n", l.path); err != nil {
				t.Fatal(err)
			}
			if !closedWithin(conn, 15*time.Second) {
				t.Errorf("a request whose headers never end holds its connection 15s later (read_header_timeout 1s)")
			}
		})
	}

	t.Run("open connections are capped", func(t *testing.T) {
		const limit = 4
		capped := harness.Start(t, harness.Options{Config: attackConfig + fmt.Sprintf("http_server: {max_conns: %d}\n", limit)})
		var held []net.Conn
		for range limit {
			c, err := net.Dial("tcp", capped.CheckAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			keepAlive(t, c, bufio.NewReader(c), "GET", "/check/plane", "")
			held = append(held, c)
		}
		extra, err := net.Dial("tcp", capped.CheckAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer extra.Close()
		if _, err := fmt.Fprint(extra, "GET /check/plane HTTP/1.1\r\nHost: extauthz\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(extra)
		_ = extra.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := r.Peek(1); err == nil {
			t.Fatalf("connection %d of a listener capped at %d was served", limit+1, limit)
		}
		held[0].Close() // a slot frees: the waiting connection is served
		_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("the waiting connection was not served once a slot freed: %v", err)
		}
		resp.Body.Close()
	})
}

// bigCheck is a CheckRequest of about size bytes (one large header).
func bigCheck(size int) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Host: "app.example.com",
			Headers: map[string]string{":method": "GET", ":path": "/", ":authority": "app.example.com", "x-big": strings.Repeat("b", size)},
		}},
		ContextExtensions: map[string]string{"app": "plane"},
	}}
}

// TestGRPCMessageSizeLimit: a CheckRequest above grpc_server.max_recv_msg_size
// (256 KiB by default) is refused by gRPC before it is decoded (issue item 11).
func TestGRPCMessageSizeLimit(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: attackConfig})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := authv3.NewAuthorizationClient(svc.Conn())
	_, err := client.Check(ctx, bigCheck(1<<20))
	if grpcstatus.Code(err) != codes.ResourceExhausted {
		t.Errorf("1 MiB CheckRequest: %v, want ResourceExhausted", err)
	}
	if _, err := client.Check(ctx, bigCheck(200<<10)); err != nil {
		t.Errorf("200 KiB CheckRequest: %v, want an answer (a denial is fine)", err)
	}

	roomy := harness.Start(t, harness.Options{Config: attackConfig, Args: []string{"--grpc-server-max-recv-msg-size", "2097152"}})
	if _, err := authv3.NewAuthorizationClient(roomy.Conn()).Check(ctx, bigCheck(1<<20)); err != nil {
		t.Errorf("1 MiB CheckRequest with max_recv_msg_size 2 MiB: %v, want an answer", err)
	}
}
