package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Defaults for Options (authz.HeaderLimits). Envoy's own limits are 60 KiB
// of request headers and 100 headers (max_request_headers_kb,
// max_headers_count); ours sit just above them so that nothing Envoy
// accepts is refused here.
const (
	DefaultMaxHeaderBytes = authz.DefaultMaxHeaderBytes
	DefaultMaxHeaders     = authz.DefaultMaxHeaders
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

	// Observe, when set, is called once per Check (see authz.Observer).
	Observe authz.Observer
}

// limits are the header limits, defaults filled in by their methods.
func (o Options) limits() authz.HeaderLimits {
	return authz.HeaderLimits{Count: o.MaxHeaders, Bytes: o.MaxHeaderBytes}
}
