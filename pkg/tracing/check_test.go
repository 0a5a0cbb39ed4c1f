package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/tracing"
)

// The caller's span: Envoy's, or the proxy's in front of the HTTP check.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
	traceparent = "00-" + callerTrace + "-" + callerSpan + "-01"
)

var sampled = sdktrace.ParentBased(sdktrace.AlwaysSample())

// wantChildOf fails unless s is a child of the remote span (traceID,
// spanID).
func wantChildOf(t *testing.T, s sdktrace.ReadOnlySpan, traceID, spanID string) {
	t.Helper()
	if got := s.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("%s: trace id %s, want %s", s.Name(), got, traceID)
	}
	if got := s.Parent().SpanID().String(); got != spanID || !s.Parent().IsRemote() {
		t.Errorf("%s: parent %s (remote %v), want remote %s", s.Name(), got, s.Parent().IsRemote(), spanID)
	}
}

// A Check's span continues the trace of the CheckRequest's traceparent,
// carries the decision, and parents one span per store trip.
func TestCheckSpanIsAChildOfTheIncomingTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		headers     map[string]string
		reason, row string
		stores      []string
	}{
		{"session_match", map[string]string{"cookie": "extauthz_session=" + string(tok(1))},
			"session_match", "11", []string{"sessions.get", "profiles.lookup"}},
		{"rekey", map[string]string{},
			"rekey", "12", []string{"profiles.lookup", "sessions.replace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, sampled)
			h := map[string]string{"x-auth-request-email": "alice@example.com",
				"traceparent": traceparent, "tracestate": "envoy=1,other=2"}
			for k, v := range tc.headers {
				h[k] = v
			}
			w.checkWire(t, context.Background(), h)

			check := w.one(t, tracing.SpanCheck)
			wantChildOf(t, check, callerTrace, callerSpan)
			if got := check.SpanContext().TraceState().String(); got != "envoy=1,other=2" {
				t.Errorf("tracestate %q, want the caller's", got)
			}
			if check.SpanKind() != trace.SpanKindServer {
				t.Errorf("kind %v, want server", check.SpanKind())
			}
			a := attrs(check)
			for k, want := range map[string]string{
				tracing.AttrApp: "default", tracing.AttrReason: tc.reason, tracing.AttrRow: tc.row,
				tracing.AttrFrontend: "grpc", tracing.AttrStatus: "200", tracing.AttrAllow: "true",
			} {
				if got := a[attributeKey(k)].String(); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, name := range tc.stores {
				s := w.one(t, name)
				if s.Parent().SpanID() != check.SpanContext().SpanID() || s.SpanContext().TraceID() != check.SpanContext().TraceID() {
					t.Errorf("%s: parent %s in trace %s, want the check span %s", name,
						s.Parent().SpanID(), s.SpanContext().TraceID(), check.SpanContext().SpanID())
				}
				if got := attrs(s)[tracing.AttrResult].String(); got != "ok" {
					t.Errorf("%s result %q, want ok", name, got)
				}
			}
			if n := len(w.rec.Ended()); n != 1+len(tc.stores) {
				t.Errorf("%d spans %v, want the check and %v", n, names(w.rec.Ended()), tc.stores)
			}
		})
	}
}

// B3, single header or multi, joins the trace when there is no
// traceparent: a 64-bit trace id is padded to 128 bits.
func TestCheckSpanJoinsB3(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		trace   string
	}{
		{"single", map[string]string{"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
			"80f198ee56343ba864fe8b2a57d3eff7"},
		{"single 64-bit debug", map[string]string{"b3": "64fe8b2a57d3eff7-e457b5a2e4d86bd1-d"},
			"000000000000000064fe8b2a57d3eff7"},
		{"multi", map[string]string{"x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
			"x-b3-spanid": "e457b5a2e4d86bd1", "x-b3-sampled": "1"}, "80f198ee56343ba864fe8b2a57d3eff7"},
		{"multi flags", map[string]string{"x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
			"x-b3-spanid": "e457b5a2e4d86bd1", "x-b3-flags": "1"}, "80f198ee56343ba864fe8b2a57d3eff7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, sampled)
			tc.headers["x-auth-request-email"] = "alice@example.com"
			w.checkWire(t, context.Background(), tc.headers)
			wantChildOf(t, w.one(t, tracing.SpanCheck), tc.trace, "e457b5a2e4d86bd1")
		})
	}
}

// The HTTP check reads the same headers from the check request.
func TestHTTPCheckSpanJoinsTheTrace(t *testing.T) {
	for _, h := range []http.Header{
		{"Traceparent": {traceparent}},
		{"B3": {callerTrace + "-" + callerSpan + "-1"}},
		{"X-B3-Traceid": {callerTrace}, "X-B3-Spanid": {callerSpan}, "X-B3-Sampled": {"1"}},
	} {
		w := newWorld(t, sampled)
		r := httptest.NewRequest(http.MethodGet, "/check", nil)
		r.Header = h
		r.Header.Set("X-Forwarded-Uri", "/")
		r.Header.Set("X-Auth-Request-Email", "alice@example.com")
		w.http.ServeHTTP(httptest.NewRecorder(), r)
		check := w.one(t, tracing.SpanCheck)
		wantChildOf(t, check, callerTrace, callerSpan)
		if got := attrs(check)[tracing.AttrFrontend].String(); got != "http" {
			t.Errorf("frontend %q, want http", got)
		}
		if len(w.spans("profiles.lookup")) != 1 {
			t.Errorf("spans %v, want a profiles.lookup", names(w.rec.Ended()))
		}
	}
}

// Envoy's own ext_authz span, in the call's gRPC metadata, is a closer
// parent than the checked request's headers.
func TestGRPCMetadataParentComesFirst(t *testing.T) {
	w := newWorld(t, sampled)
	envoySpan := "b7ad6b7169203331"
	ctx := metadata.NewIncomingContext(context.Background(),
		metadata.Pairs("traceparent", "00-"+callerTrace+"-"+envoySpan+"-01"))
	w.checkWire(t, ctx, map[string]string{"x-auth-request-email": "alice@example.com", "traceparent": traceparent})
	wantChildOf(t, w.one(t, tracing.SpanCheck), callerTrace, envoySpan)
}

// The trace context read from header_map (Envoy's newer form) counts;
// a traceparent sent twice does not (which one is the caller's?).
func TestHeaderMapTraceparent(t *testing.T) {
	w := newWorld(t, sampled)
	w.checkWire(t, context.Background(), nil, [2]string{"x-auth-request-email", "alice@example.com"}, [2]string{"traceparent", traceparent})
	wantChildOf(t, w.one(t, tracing.SpanCheck), callerTrace, callerSpan)

	w = newWorld(t, sampled)
	other := "00-" + callerTrace + "-b7ad6b7169203331-01"
	w.checkWire(t, context.Background(), nil, [2]string{"x-auth-request-email", "alice@example.com"},
		[2]string{"traceparent", traceparent}, [2]string{"traceparent", other})
	if p := w.one(t, tracing.SpanCheck).Parent(); p.IsValid() {
		t.Errorf("parent %s from an ambiguous traceparent, want a new trace", p.SpanID())
	}
}

// A caller that did not sample the trace gets no spans from us (the
// default sampler is parent-based), store spans included; a check with no
// caller context starts its own trace.
func TestSampling(t *testing.T) {
	w := newWorld(t, sampled)
	w.checkWire(t, context.Background(), map[string]string{"x-auth-request-email": "alice@example.com",
		"traceparent": "00-" + callerTrace + "-" + callerSpan + "-00"})
	if got := w.rec.Ended(); len(got) != 0 {
		t.Errorf("unsampled parent: spans %v, want none", names(got))
	}

	w = newWorld(t, sampled)
	w.checkWire(t, context.Background(), map[string]string{"x-auth-request-email": "alice@example.com"})
	check := w.one(t, tracing.SpanCheck)
	if check.Parent().IsValid() {
		t.Errorf("parent %v, want a root span", check.Parent())
	}
	if s := w.one(t, "profiles.lookup"); s.Parent().SpanID() != check.SpanContext().SpanID() {
		t.Errorf("profiles.lookup parent %s, want %s", s.Parent().SpanID(), check.SpanContext().SpanID())
	}
}

// A store that cannot answer: the store span says unavailable, the check
// span is an error (a 503 is the service's failure, not the request's).
func TestUnavailableStoreIsAnError(t *testing.T) {
	w := newWorld(t, sampled)
	w.checkWire(t, context.Background(), map[string]string{"x-auth-request-email": "down@example.com", "traceparent": traceparent})
	check := w.one(t, tracing.SpanCheck)
	a := attrs(check)
	if a[tracing.AttrReason].String() != "lookup_unavailable" || a[tracing.AttrRow].String() != "6" || a[tracing.AttrStatus].String() != "503" {
		t.Errorf("attributes %v, want lookup_unavailable, row 6, 503", a)
	}
	if check.Status().Code != codes.Error {
		t.Errorf("check status %v, want error", check.Status())
	}
	lookup := w.one(t, "profiles.lookup")
	if got := attrs(lookup)[tracing.AttrResult].String(); got != "unavailable" || lookup.Status().Code != codes.Error {
		t.Errorf("lookup result %q status %v, want unavailable, error", got, lookup.Status())
	}
	for _, s := range w.rec.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Value.String() == "down@example.com" {
				t.Errorf("%s carries the email in %s", s.Name(), kv.Key)
			}
		}
	}
}

// A store call outside a traced check (a cache's background refresh)
// records nothing.
func TestStoreCallOutsideACheckRecordsNothing(t *testing.T) {
	w := newWorld(t, sampled)
	d := w.engine.Decide(context.Background(), authz.Input{Headers: authz.Headers{"x-auth-request-email": {"alice@example.com"}}})
	if d.Reason != authz.ReasonRekey {
		t.Fatalf("reason %s, want rekey", d.Reason)
	}
	if got := w.rec.Ended(); len(got) != 0 {
		t.Errorf("spans %v, want none", names(got))
	}
}

// A check refused before any decision still gets its span, parented by
// the gRPC metadata (the request's headers were not read).
func TestRejected(t *testing.T) {
	w := newWorld(t, sampled)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("traceparent", traceparent))
	d := authz.Denial("", 400, authz.ReasonRequestInvalid, authz.DefaultReasonHeader)
	w.tr.Rejected(ctx, "grpc", d, 0)
	check := w.one(t, tracing.SpanCheck)
	wantChildOf(t, check, callerTrace, callerSpan)
	a := attrs(check)
	if a[tracing.AttrReason].String() != "request_invalid" || a[tracing.AttrStatus].String() != "400" {
		t.Errorf("attributes %v, want request_invalid 400", a)
	}
	if _, ok := a[tracing.AttrRow]; ok {
		t.Errorf("row %v on a check no row decided", a[tracing.AttrRow])
	}
}

// Tracing off is the engine and the stores themselves: nothing wraps them.
func TestNilTracerWrapsNothing(t *testing.T) {
	var tr *tracing.Tracer
	w := newWorld(t, sampled)
	if d := tr.Engine(w.engine, "grpc"); d != authz.Decider(w.engine) {
		t.Errorf("Engine = %T, want the engine itself", d)
	}
	p, s := authzProfiles(), authzSessions()
	if tr.Profiles(p, "profiles") != authz.ProfileSource(p) || tr.Sessions(s) != authz.SessionStore(s) {
		t.Error("a nil tracer wrapped a store")
	}
	tr.Rejected(context.Background(), "grpc", authz.Decision{}, 0) // must not panic
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// Every reason either names its row or is one of the documented few that
// do not: a new reason must be placed.
func TestRowCoversEveryReason(t *testing.T) {
	noRow := map[authz.Reason]bool{authz.ReasonIdentityMissing: true, authz.ReasonFlushFailed: true,
		authz.ReasonMisconfigured: true, authz.ReasonRequestInvalid: true, authz.ReasonLogout: true}
	for _, r := range authz.Reasons {
		row, ok := tracing.Row(r)
		if ok == noRow[r] || row < 0 || row > 12 {
			t.Errorf("Row(%s) = %d, %v", r, row, ok)
		}
	}
}

// The decision carries its span's trace id, so that the decision log line
// leads to the trace; without tracing it carries none.
func TestDecisionCarriesTheTraceID(t *testing.T) {
	w := newWorld(t, sampled)
	in := authz.Input{App: authz.DefaultApp, Method: "GET", Path: "/", Host: "app.example.com",
		Headers: authz.Headers{"x-auth-request-email": {"alice@example.com"}, "traceparent": {traceparent}}}
	if d := w.tr.Engine(w.engine, "grpc").Decide(context.Background(), in); d.TraceID != callerTrace {
		t.Errorf("traced decision TraceID %q, want %s", d.TraceID, callerTrace)
	}
	if d := w.engine.Decide(context.Background(), in); d.TraceID != "" {
		t.Errorf("untraced decision TraceID %q, want none", d.TraceID)
	}
}
