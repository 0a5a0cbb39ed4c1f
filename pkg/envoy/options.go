package envoy

import (
	"context"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Defaults for Options. Envoy's own limits are 60 KiB of request headers and
// 100 headers (max_request_headers_kb, max_headers_count); ours sit just
// above them so that nothing Envoy accepts is refused here, while a
// misconfigured or hostile client of the gRPC port cannot make one check
// arbitrarily expensive.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxHeaders     = 256
)

// Options configures the translation and the server. The zero value is
// usable: zero limits mean the defaults and the zero SetCookieAction is
// APPEND_IF_EXISTS_OR_ADD.
type Options struct {
	// MaxHeaderBytes bounds the summed length of header names and values
	// across headers and header_map.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header entries across both forms.
	MaxHeaders int

	// SetCookieAction is the append_action of each set-cookie header on
	// allow and deny. Envoy changed how it applies appends to
	// response_headers_to_add across 1.21, 1.31 and 1.37, so it is a
	// setting; the default keeps the app's own Set-Cookie lines.
	SetCookieAction corev3.HeaderValueOption_HeaderAppendAction

	// UnavailableAsError answers a lookup_unavailable decision with a gRPC
	// Unavailable error instead of a 503 denial, so that Envoy's
	// failure_mode_allow decides. Off by default: fail closed with our own
	// Retry-After.
	UnavailableAsError bool

	// Keep, when set, names the only headers ToInput copies into the Input
	// (lower-case): the ones the decider reads (authz.Engine.HeaderNames).
	// Envoy sends every request header; copying the rest would be work on
	// every Check for nothing. Nil keeps all.
	Keep map[string]bool

	// Observe, when set, is called once per Check with the input (only App
	// is set when the request was rejected before parsing finished), the
	// decision and the time spent. It runs on the request path: keep it cheap.
	Observe func(ctx context.Context, in authz.Input, d authz.Decision, dur time.Duration)
}

func (o Options) maxHeaderBytes() int {
	if o.MaxHeaderBytes > 0 {
		return o.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (o Options) maxHeaders() int {
	if o.MaxHeaders > 0 {
		return o.MaxHeaders
	}
	return DefaultMaxHeaders
}
