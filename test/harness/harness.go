// Package harness runs the real extauthz binary for black-box tests: it
// builds the binary once per test process, starts it on free loopback ports,
// waits until it answers, talks to it over real gRPC and HTTP, and stops it
// (by its PID) when the test ends.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// moduleRoot finds the repository root from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds cmd/extauthz once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "extauthz-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "extauthz")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/extauthz")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("harness: %v", buildErr)
	}
	return buildPath
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for programs that cannot be told to bind port 0 and report it
// (nginx, oauth2-proxy). It never returns the same port twice in one test
// process; another process may still take the port before the program
// binds it. extauthz itself binds port 0 (Start).
func FreeAddr(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: free port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
}

var handedOut sync.Map // addresses FreeAddr returned

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Options start a service.
type Options struct {
	// Config is YAML written to a file passed with --config (optional).
	Config string
	// DatabaseURL, when set, is passed with --database-url and --migrate.
	DatabaseURL string
	// Args are extra serve flags.
	Args []string
	// Env is extra environment (KEY=VALUE).
	Env []string
}

// Service is one running extauthz process.
type Service struct {
	GRPCAddr string
	// HTTPAddr is the ops listener: /healthz, /readyz, /metrics.
	HTTPAddr string
	// CheckAddr is the HTTP check listener (/check, /nginx/check). The
	// harness always turns it on; pass "--check-addr=" in Options.Args to
	// turn it off again.
	CheckAddr string

	t    testing.TB
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
	conn *grpc.ClientConn
}

// Start runs `extauthz serve` on port 0 of 127.0.0.1 for each listener,
// reads the bound addresses from its "serving" log line, and waits until
// /healthz answers and the Check service is SERVING. The process is stopped
// with SIGTERM (then SIGKILL) in t's cleanup; its log is printed if the
// test failed.
func Start(t testing.TB, o Options) *Service {
	t.Helper()
	bin := Binary(t)
	s := &Service{t: t, logs: &syncBuffer{}, done: make(chan struct{})}
	const port0 = "127.0.0.1:0"
	// No shutdown_delay unless a test asks: every test's cleanup would wait it out.
	args := []string{"serve", "--grpc-addr", port0, "--http-addr", port0, "--check-addr", port0, "--shutdown-delay", "0s"}
	if o.Config != "" {
		path := filepath.Join(t.TempDir(), "extauthz.yaml")
		if err := os.WriteFile(path, []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if o.DatabaseURL != "" {
		args = append(args, "--database-url", o.DatabaseURL, "--migrate")
	}
	args = append(args, o.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(cleanEnv(), o.Env...)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("harness: starting extauthz: %v", err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		if s.conn != nil {
			s.conn.Close()
		}
		s.Stop()
		if t.Failed() {
			t.Logf("extauthz log (%s):\n%s", s.GRPCAddr, s.Logs())
		}
	})
	s.readAddrs()
	s.waitHealthy()
	s.waitServing()
	return s
}

// until polls cond every 10 ms until it holds, failing the test when the
// process exits first or after 60 s (what names the wait).
func (s *Service) until(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case <-s.done:
			s.t.Fatalf("harness: extauthz exited before %s: %v\n%s", what, s.err, s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("harness: not within 60s: %s\n%s", what, s.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readAddrs waits for the "serving" line (JSON or text log) and takes the
// bound addresses from it.
func (s *Service) readAddrs() {
	s.t.Helper()
	s.until(`it logged "serving"`, func() bool {
		for line := range strings.Lines(s.Logs()) {
			if f, ok := servingLine(line); ok {
				s.GRPCAddr, s.HTTPAddr, s.CheckAddr = f["grpc_addr"], f["http_addr"], f["check_addr"]
				return true
			}
		}
		return false
	})
}

// servingLine returns the string fields of a "serving" log line.
func servingLine(line string) (map[string]string, bool) {
	f := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "serving" {
			return nil, false
		}
		for k, v := range m {
			if str, ok := v.(string); ok {
				f[k] = str
			}
		}
		return f, true
	}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = strings.Trim(v, `"`)
		}
	}
	return f, f["msg"] == "serving"
}

// waitServing waits until grpc.health.v1 says the Check service is
// SERVING, as Envoy's active health check would: with a database, only
// once the pool is warm.
func (s *Service) waitServing() {
	s.t.Helper()
	hc := healthpb.NewHealthClient(s.Conn())
	s.until("the Check service was SERVING", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
}

// cleanEnv drops EXTAUTHZ_* variables of the test's own environment so that
// a developer's shell cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EXTAUTHZ_") {
			env = append(env, kv)
		}
	}
	return env
}

func (s *Service) waitHealthy() {
	s.t.Helper()
	client := &http.Client{Timeout: time.Second}
	s.until("/healthz answered 200", func() bool {
		resp, err := client.Get("http://" + s.HTTPAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// Logs returns everything the process wrote so far.
func (s *Service) Logs() string { return s.logs.String() }

// PID is the process id.
func (s *Service) PID() int { return s.cmd.Process.Pid }

// Signal sends sig to the process.
func (s *Service) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit; it reports whether it did,
// and its exit error.
func (s *Service) Wait(d time.Duration) (bool, error) {
	select {
	case <-s.done:
		return true, s.err
	case <-time.After(d):
		return false, nil
	}
}

// Stop sends SIGTERM and waits; after 15 s it kills. Idempotent.
func (s *Service) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if exited, _ := s.Wait(15 * time.Second); !exited {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Conn returns a gRPC client connection to the service (one per Service).
func (s *Service) Conn() *grpc.ClientConn {
	s.t.Helper()
	if s.conn == nil {
		c, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			s.t.Fatalf("harness: dial: %v", err)
		}
		s.conn = c
	}
	return s.conn
}

// Check sends one Check over the real gRPC connection.
func (s *Service) Check(ctx context.Context, r Request) (*authv3.CheckResponse, error) {
	return CheckOn(ctx, s.Conn(), r)
}

// CheckOn sends one Check over conn (a connection of the test's own, such
// as one through a proxy).
func CheckOn(ctx context.Context, conn *grpc.ClientConn, r Request) (*authv3.CheckResponse, error) {
	return authv3.NewAuthorizationClient(conn).Check(ctx, r.Envoy())
}

// Get fetches a path on the service's ops HTTP listener, giving up after
// 10 s.
func (s *Service) Get(path string) (int, string, error) {
	resp, err := getClient.Get("http://" + s.HTTPAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

var getClient = &http.Client{Timeout: 10 * time.Second}

// CLI runs an extauthz command to completion and returns its stdout; it
// fails t when the command fails.
func CLI(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := TryCLI(t, env, args...)
	if err != nil {
		t.Fatalf("extauthz %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// TryCLI runs an extauthz command and returns stdout, stderr and its error.
func TryCLI(t testing.TB, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// Request describes a request the way Envoy presents it to ext_authz.
type Request struct {
	App     string
	Method  string // GET by default
	Host    string // app.example.com by default
	Path    string // / by default
	Headers map[string]string
	Cookie  string // the Cookie header, if any
	// Raw sends headers in header_map (encode_raw_headers) instead of the map.
	Raw bool
}

// Envoy builds the CheckRequest Envoy would send for r.
func (r Request) Envoy() *authv3.CheckRequest {
	method, host, path := r.Method, r.Host, r.Path
	if method == "" {
		method = "GET"
	}
	if host == "" {
		host = "app.example.com"
	}
	if path == "" {
		path = "/"
	}
	h := map[string]string{":method": method, ":authority": host, ":path": path, ":scheme": "https"}
	for k, v := range r.Headers {
		h[strings.ToLower(k)] = v
	}
	if r.Cookie != "" {
		h["cookie"] = r.Cookie
	}
	http := &authv3.AttributeContext_HttpRequest{Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/1.1"}
	if r.Raw {
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hm := &corev3HeaderMap{}
		for _, k := range keys {
			hm.add(k, h[k])
		}
		http.HeaderMap = hm.m()
	} else {
		http.Headers = h
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  &authv3.AttributeContext_Peer{},
		Request: &authv3.AttributeContext_Request{Http: http},
	}}
	if r.App != "" {
		req.Attributes.ContextExtensions = map[string]string{"app": r.App}
	}
	return req
}
