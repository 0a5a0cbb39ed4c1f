package server

import (
	"context"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/envoy"
	"github.com/extauthz/extauthz/pkg/tracing"
)

const (
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpanID  = "00f067aa0ba902b7"
)

// checkRequest is alice's first request, carrying the caller's trace.
func checkRequest(headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{"x-auth-request-email": "alice@example.com",
		"traceparent": "00-" + testTraceID + "-" + testSpanID + "-01"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/", Headers: h},
	}}}
}

func aliceConfig() config.Config {
	cfg := testConfig()
	cfg.SeedProfiles = []config.SeedProfile{{Email: "alice@example.com", Active: true}}
	return cfg
}

// Without OTEL_* nothing on the check path changes: the front ends get
// the engine itself, the gRPC front end copies the same headers, and a
// Check allocates exactly what it did before tracing existed.
func TestTracingOffChangesNothing(t *testing.T) {
	s, err := New(context.Background(), aliceConfig(), Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.tracer != nil {
		t.Fatal("tracing on without any OTEL_* variable")
	}
	if d := s.decider("grpc"); d != authz.Decider(s.engine) {
		t.Fatalf("decider = %T, want the engine itself", d)
	}
	if got, want := len(s.keep()), len(s.engine.HeaderNames()); got != want {
		t.Fatalf("keep %d headers, want the engine's %d", got, want)
	}
	raw, err := proto.Marshal(checkRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(srv *envoy.Server) float64 {
		ctx := context.Background()
		if _, err := srv.CheckWire(ctx, append([]byte(nil), raw...)); err != nil { // registers alice's session
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() {
			if _, err := srv.CheckWire(ctx, append([]byte(nil), raw...)); err != nil {
				t.Fatal(err)
			}
		})
	}
	served := allocs(envoy.NewServer(s.decider("grpc"), envoy.Options{Keep: s.keep(), Observe: s.observe("grpc")}))
	bare := allocs(envoy.NewServer(s.engine, envoy.Options{Keep: s.engine.HeaderNames(), Observe: s.observe("grpc")}))
	if served != bare {
		t.Fatalf("a Check allocates %v times as served, %v with the bare engine", served, bare)
	}
}

// With tracing on, a real gRPC Check on the wire path joins the caller's
// trace and parents the store spans; a check refused before any decision
// still gets its span.
func TestTracingOnOverGRPC(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	cfg := aliceConfig()
	cfg.GRPCServer.MaxRecvMsgSize = 1 << 20
	s, err := New(context.Background(), cfg, Options{Tracer: tracing.New(tp)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	if _, err := client.Check(ctx, checkRequest(nil)); err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range envoy.DefaultMaxHeaders + 1 {
		many["x-h"+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	if _, err := client.Check(ctx, checkRequest(many)); err != nil {
		t.Fatal(err)
	}

	var checks []sdktrace.ReadOnlySpan
	byParent := map[string][]string{}
	for _, sp := range rec.Ended() {
		if sp.Name() == tracing.SpanCheck {
			checks = append(checks, sp)
		}
		byParent[sp.Parent().SpanID().String()] = append(byParent[sp.Parent().SpanID().String()], sp.Name())
	}
	if len(checks) != 2 {
		t.Fatalf("%d check spans, want 2 (spans by parent: %v)", len(checks), byParent)
	}
	reasons := map[string]sdktrace.ReadOnlySpan{}
	for _, c := range checks {
		for _, kv := range c.Attributes() {
			if kv.Key == tracing.AttrReason {
				reasons[kv.Value.AsString()] = c
			}
		}
	}
	first, rejected := reasons["rekey"], reasons["request_invalid"]
	if first == nil || rejected == nil {
		t.Fatalf("check reasons %v, want rekey and request_invalid", reasons)
	}
	if first.SpanContext().TraceID().String() != testTraceID || first.Parent().SpanID().String() != testSpanID {
		t.Errorf("check span in trace %s under %s, want %s under %s",
			first.SpanContext().TraceID(), first.Parent().SpanID(), testTraceID, testSpanID)
	}
	if got := byParent[first.SpanContext().SpanID().String()]; !slices.Equal(got, []string{"profiles.lookup", "sessions.replace"}) {
		t.Errorf("children of the check span: %v, want profiles.lookup and sessions.replace", got)
	}
	if rejected.Parent().IsValid() {
		t.Errorf("the rejected check has parent %s; its headers were never read", rejected.Parent().SpanID())
	}
}

// BenchmarkServedCheck is a steady-state Check on the wire path as serve
// wires it, without the gRPC transport: "bare" is the engine alone (what
// serve ran before tracing existed), "off" what serve runs without OTEL_*,
// "on" with tracing on and every check sampled, and
// "unsampled" with a caller that did not sample. off/bare is the cost of
// tracing turned off. Spans go through the batch processor to an exporter
// that drops them: the cost of making them, not of shipping them.
func BenchmarkServedCheck(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	off, err := New(context.Background(), aliceConfig(), Options{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer off.Close()
	on, err := New(context.Background(), aliceConfig(), Options{Tracer: tracing.New(tp)})
	if err != nil {
		b.Fatal(err)
	}
	defer on.Close()
	for _, tc := range []struct {
		name   string
		s      *Server
		bare   bool
		parent string
	}{
		{"bare", off, true, "01"}, {"off", off, false, "01"}, {"on", on, false, "01"}, {"unsampled", on, false, "00"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := envoy.NewServer(tc.s.decider("grpc"), envoy.Options{Keep: tc.s.keep()})
			if tc.bare {
				srv = envoy.NewServer(tc.s.engine, envoy.Options{Keep: tc.s.engine.HeaderNames()})
			}
			ctx := context.Background()
			first, err := srv.CheckWire(ctx, mustMarshal(b, checkRequest(nil)))
			if err != nil {
				b.Fatal(err)
			}
			raw := mustMarshal(b, checkRequest(map[string]string{"cookie": sessionCookie(b, first),
				"traceparent": "00-" + testTraceID + "-" + testSpanID + "-" + tc.parent}))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.CheckWire(ctx, append([]byte(nil), raw...)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sessionCookie is the "name=value" of the session cookie a serialized
// CheckResponse sets.
func sessionCookie(tb testing.TB, resp []byte) string {
	tb.Helper()
	var r authv3.CheckResponse
	if err := proto.Unmarshal(resp, &r); err != nil {
		tb.Fatal(err)
	}
	for _, h := range r.GetOkResponse().GetResponseHeadersToAdd() {
		if h.GetHeader().GetKey() == "set-cookie" {
			v := h.GetHeader().GetValue()
			if i := strings.IndexByte(v, ';'); i > 0 {
				return v[:i]
			}
		}
	}
	tb.Fatalf("no set-cookie in %v", &r)
	return ""
}
