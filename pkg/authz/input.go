package authz

import (
	"strings"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// Headers maps a lower-case header name to every value seen for it: one
// element per header line (Envoy's header_map) or per map entry (which may
// itself be several lines joined with ","). Front ends build it; Decide reads
// it and never mutates it.
type Headers map[string][]string

// Get returns the values of name (lower-case).
func (h Headers) Get(name string) []string { return h[name] }

// Has reports whether name was sent at all.
func (h Headers) Has(name string) bool { return len(h[name]) > 0 }

// Add appends a value under the lower-cased name.
func (h Headers) Add(name, value string) {
	name = strings.ToLower(name)
	h[name] = append(h[name], value)
}

// Input is everything Decide needs to know about one request, already parsed
// out of its transport.
type Input struct {
	// App selects the policy; "" means the default app.
	App string
	// Method, Scheme, Host and Path describe the original request; Path is the
	// raw request target, query included, not decoded.
	Method string
	Scheme string
	Host   string
	Path   string
	// Headers holds the original request's headers.
	Headers Headers
	// Cookies are every pair of every Cookie header, in order.
	Cookies []cookie.Cookie
	// RequestID is the x-request-id, for logs only.
	RequestID string
}
