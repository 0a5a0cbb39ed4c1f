package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The headers a parent span context is read from.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	HeaderB3          = "b3"
	HeaderB3TraceID   = "x-b3-traceid"
	HeaderB3SpanID    = "x-b3-spanid"
	HeaderB3Sampled   = "x-b3-sampled"
	HeaderB3Flags     = "x-b3-flags"
)

// HeaderNames are the request headers (lower-case) the parent of a check's
// span is read from.
var HeaderNames = []string{
	HeaderTraceparent, HeaderTracestate,
	HeaderB3, HeaderB3TraceID, HeaderB3SpanID, HeaderB3Sampled, HeaderB3Flags,
}

// values reads every value of one lower-case header name.
type values func(name string) []string

// Get implements propagation.TextMapCarrier: the only value, or "" when
// the header is absent or, except tracestate (whose lines join with ","),
// sent more than once.
func (v values) Get(key string) string {
	vs := v(key)
	switch {
	case len(vs) == 1:
		return vs[0]
	case len(vs) > 1 && key == HeaderTracestate:
		return strings.Join(vs, ",")
	}
	return ""
}

// Set implements propagation.TextMapCarrier; nothing is ever injected.
func (values) Set(string, string) {}

// Keys implements propagation.TextMapCarrier.
func (values) Keys() []string { return HeaderNames }

var w3c = propagation.TraceContext{}

// Parent reads the remote parent of a check: from the gRPC metadata of
// ctx, else from the checked request's headers. The result is invalid
// when neither carries one.
func Parent(ctx context.Context, h authz.Headers) trace.SpanContext {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if sc := extract(values(md.Get)); sc.IsValid() {
			return sc
		}
	}
	return extract(values(h.Get))
}

// extract reads W3C trace context, then B3 single, then B3 multi.
func extract(v values) trace.SpanContext {
	if v.Get(HeaderTraceparent) != "" {
		if sc := trace.SpanContextFromContext(w3c.Extract(context.Background(), v)); sc.IsValid() {
			return sc
		}
	}
	if b := v.Get(HeaderB3); b != "" {
		if sc := b3Single(b); sc.IsValid() {
			return sc
		}
	}
	return b3Multi(v)
}

// b3Single parses "{trace id}-{span id}[-{sampling}[-{parent span id}]]".
// A bare sampling state ("0", "1", "d") carries no context.
func b3Single(s string) trace.SpanContext {
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(parts) > 4 {
		return trace.SpanContext{}
	}
	sampling := ""
	if len(parts) > 2 {
		sampling = parts[2]
		if sampling == "d" {
			sampling = "1" // debug implies sampled
		}
	}
	if len(parts) == 4 {
		if _, err := trace.SpanIDFromHex(parts[3]); err != nil {
			return trace.SpanContext{}
		}
	}
	return b3Context(parts[0], parts[1], sampling)
}

// b3Multi reads the x-b3-* headers; x-b3-flags: 1 (debug) implies sampled.
func b3Multi(v values) trace.SpanContext {
	tid, sid := v.Get(HeaderB3TraceID), v.Get(HeaderB3SpanID)
	if tid == "" || sid == "" {
		return trace.SpanContext{}
	}
	sampled := v.Get(HeaderB3Sampled)
	switch {
	case v.Get(HeaderB3Flags) == "1":
		sampled = "1"
	case sampled == "true": // what some old tracers send
		sampled = "1"
	case sampled == "false":
		sampled = "0"
	}
	return b3Context(tid, sid, sampled)
}

// b3Context builds a remote span context from B3's lower-hex ids (a 64-bit
// trace id is padded to 128 bits) and sampling state: "1" sampled, "0" or
// "" (deferred) not; anything else is invalid.
func b3Context(tid, sid, sampling string) trace.SpanContext {
	if len(tid) == 16 {
		tid = "0000000000000000" + tid
	}
	traceID, err := trace.TraceIDFromHex(tid)
	if err != nil {
		return trace.SpanContext{}
	}
	spanID, err := trace.SpanIDFromHex(sid)
	if err != nil {
		return trace.SpanContext{}
	}
	var flags trace.TraceFlags
	switch sampling {
	case "1":
		flags = trace.FlagsSampled
	case "0", "":
	default:
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: flags, Remote: true})
}
