// Package leak checks that the serving stack leaves no goroutine behind:
// the real gRPC server with the real engine, PostgreSQL stores behind the
// caches and the change-feed listener, all in-process, run Checks over
// loopback gRPC, shut down in the order serve uses, and the goroutine count
// must come back to where it was.
package leak

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cache"
	"github.com/extauthz/extauthz/pkg/envoy"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNoGoroutineOutlivesShutdown(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	setup, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Migrate(ctx, setup); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := profile.NewPostgres(setup).AddProfile(ctx, email, "", true, false); err != nil {
			t.Fatalf("seeding profiles: %v", err)
		}
	}
	setup.Close()

	// The baseline: the test binary, the shared cluster's watcher, and
	// whatever pgx/grpc start once per process.
	base := settle(runtime.NumGoroutine)

	serveAndStop(t, dbURL)

	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			t.Logf("goroutines: baseline %d, after shutdown %d", base, n)
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines 10s after shutdown, baseline %d:\n%s", n, base, b.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// settle returns n() once it stopped changing for a few polls (goroutines
// of the setup are still winding down when it returns).
func settle(n func() int) int {
	last, same := n(), 0
	for same < 5 {
		time.Sleep(20 * time.Millisecond) // poll interval
		if cur := n(); cur == last {
			same++
		} else {
			last, same = cur, 0
		}
	}
	return last
}

// serveAndStop runs the stack, sends checks, and shuts it down in serve's
// order: health NOT_SERVING, GracefulStop, change feed stopped, pool closed.
func serveAndStop(t *testing.T, dbURL string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	opts := cache.Options{Size: 1000, TTL: time.Minute}
	profiles := cache.NewProfiles(profile.NewPostgres(pool), opts)
	sessions := cache.NewSessions(session.NewPostgres(pool), opts)
	listener := cache.NewListener(cache.ListenerConfig{DatabaseURL: dbURL, Caches: []cache.Invalidator{profiles, sessions}})
	feedDone := make(chan struct{})
	go func() { _ = listener.Run(ctx); close(feedDone) }()

	engine, err := authz.New(authz.Config{
		Apps:     []authz.App{{Policy: authz.DefaultPolicy(authz.DefaultApp), Profiles: profiles}},
		Sessions: sessions,
	})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(envoy.WireCodec())
	envoy.RegisterWire(gs, envoy.NewServer(engine, envoy.Options{}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client := authv3.NewAuthorizationClient(conn)
	check := func(email, cookie string) *authv3.CheckResponse {
		h := map[string]string{":method": "GET", ":path": "/", ":authority": "app.example.com"}
		if email != "" {
			h["x-auth-request-email"] = email
		}
		if cookie != "" {
			h["cookie"] = cookie
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		resp, err := client.Check(cctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Headers: h}},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return resp
	}
	for i := range 20 {
		email := []string{"alice@example.com", "bob@example.com", fmt.Sprintf("nobody%d@example.com", i)}[i%3]
		resp := check(email, "")
		for _, hv := range resp.GetOkResponse().GetResponseHeadersToAdd() {
			if v, ok := strings.CutPrefix(hv.GetHeader().GetValue(), "extauthz_session="); ok {
				v, _, _ = strings.Cut(v, ";")
				check(email, "extauthz_session="+v) // steady state, from the cache
			}
		}
	}
	// Wait for the feed so its connection is part of what must end.
	deadline := time.Now().Add(10 * time.Second)
	for !listener.Up() {
		if time.Now().After(deadline) {
			t.Fatal("change feed never connected")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}

	_ = conn.Close()
	hs.Shutdown()
	gs.GracefulStop()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	cancel()
	<-feedDone
	pool.Close()
}
