package tracing_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/proto"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/envoy"
	"github.com/extauthz/extauthz/pkg/httpcheck"
	"github.com/extauthz/extauthz/pkg/tracing"
)

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	alice = authz.Profile{ID: "p-alice", Email: "alice@example.com", Name: "Alice", Active: true}
	bob   = authz.Profile{ID: "p-bob", Email: "bob@example.com", Name: "Bob", Active: true}
)

// tok is the deterministic session token whose 32 bytes all equal n.
func tok(n byte) cookie.Token {
	var b [32]byte
	for i := range b {
		b[i] = n
	}
	return cookie.Token(cookie.TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]))
}

// world is one engine with traced in-memory stores: alice and bob exist,
// token 1 is alice's live session of app "default", lookups for
// down@example.com fail transiently. Its front ends are the ones serve
// runs: the gRPC wire path (copying only the headers the engine and the
// tracing read) and the HTTP check.
type world struct {
	rec    *tracetest.SpanRecorder
	tr     *tracing.Tracer
	engine *authz.Engine
	grpc   *envoy.Server
	http   http.Handler
}

func newWorld(t testing.TB, sampler sdktrace.Sampler) *world {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tracing.New(tp)
	e := newEngine(t, tr)
	keep := e.HeaderNames()
	for _, h := range tracing.HeaderNames {
		keep[h] = true
	}
	mux := http.NewServeMux()
	httpcheck.NewHandler(tr.Engine(e, "http"), httpcheck.Options{}).Mount(mux)
	return &world{
		rec:    rec,
		tr:     tr,
		engine: e,
		grpc:   envoy.NewServer(tr.Engine(e, "grpc"), envoy.Options{Keep: keep}),
		http:   mux,
	}
}

// newEngine builds the world's engine over in-memory stores traced by tr
// (nil: untraced).
func newEngine(t testing.TB, tr *tracing.Tracer) *authz.Engine {
	t.Helper()

	profiles := authztest.NewProfiles(alice, bob)
	profiles.Errs["down@example.com"] = errors.Join(authz.ErrUnavailable, errors.New("dial tcp: connection refused"))
	sessions := authztest.NewSessions(authz.Session{
		Hash: tok(1).Hash(), ProfileID: alice.ID, IdentityKey: "email:" + alice.Email, Email: alice.Email, App: "default",
		CreatedAt: testNow.Add(-time.Hour), RenewedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.Add(24 * time.Hour),
	})
	next := byte(100)
	var mu sync.Mutex
	e, err := authz.New(authz.Config{
		Apps:     []authz.App{{Policy: authz.DefaultPolicy("default"), Profiles: tr.Profiles(profiles, "profiles")}},
		Sessions: tr.Sessions(sessions),
		Tokens:   tr.Tokens(authztest.NewTokens(nil)),
		Now:      func() time.Time { return testNow },
		NewToken: func() (cookie.Token, error) {
			mu.Lock()
			defer mu.Unlock()
			next++
			return tok(next), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkWire runs one Check on the wire path with headers in the headers
// map and hm in header_map.
func (w *world) checkWire(t testing.TB, ctx context.Context, headers map[string]string, hm ...[2]string) {
	t.Helper()
	hr := &authv3.AttributeContext_HttpRequest{Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/", Headers: headers}
	for _, kv := range hm {
		if hr.HeaderMap == nil {
			hr.HeaderMap = new(corev3.HeaderMap)
		}
		hr.HeaderMap.Headers = append(hr.HeaderMap.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: hr}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.grpc.CheckWire(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// spans returns the ended spans called name.
func (w *world) spans(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range w.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only ended span called name.
func (w *world) one(t testing.TB, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	ss := w.spans(name)
	if len(ss) != 1 {
		t.Fatalf("%d spans called %q, want 1 (all: %v)", len(ss), name, names(w.rec.Ended()))
	}
	return ss[0]
}

func names(ss []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name()
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }

func authzProfiles() *authztest.Profiles { return authztest.NewProfiles() }
func authzSessions() *authztest.Sessions { return authztest.NewSessions() }
