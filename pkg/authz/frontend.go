package authz

import (
	"context"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// What every front end (pkg/envoy, pkg/httpcheck) does around Decide, kept
// here once so that the two cannot drift: the interface they call, the
// reason header of the denials they make themselves, the header fields of
// an Input, and failing closed on a decision they cannot carry. Nothing
// here knows a transport.

// Decider decides one request; *Engine is one.
type Decider interface {
	Decide(ctx context.Context, in Input) Decision
}

// Observer is called by a front end once per check with the input (only
// App is set when the request was rejected before parsing finished), the
// decision and the time spent. It runs on the request path: keep it cheap.
type Observer func(ctx context.Context, in Input, d Decision, took time.Duration)

// ReasonHeaderFor names the reason header of app for the denials a front
// end makes itself (a request it cannot read): the app's reason_header when
// d can tell it (*Engine can), else DefaultReasonHeader.
func ReasonHeaderFor(d Decider, app string) string {
	if ps, ok := d.(interface {
		Policy(app string) (Policy, bool)
	}); ok {
		if p, found := ps.Policy(app); found {
			return p.ReasonHeader
		}
	}
	return DefaultReasonHeader
}

// Default limits of the request headers a front end reads into an Input.
// Envoy's own limits are 60 KiB of request headers and 100 headers; nginx
// allows 4 × 8 KiB per header line and Traefik/Caddy 1 MiB in all. These
// sit above what a browser or Envoy sends, so that only hostile or broken
// requests are refused, while no client can make one check arbitrarily
// expensive.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxHeaders     = 256
)

// HeaderLimits bound the request headers a front end reads: Count header
// lines and Bytes of names and values summed. Zero (or less) means the
// default.
type HeaderLimits struct{ Count, Bytes int }

// MaxCount is the bound on header lines.
func (l HeaderLimits) MaxCount() int { return orDefault(l.Count, DefaultMaxHeaders) }

// MaxBytes is the bound on the summed length of names and values.
func (l HeaderLimits) MaxBytes() int { return orDefault(l.Bytes, DefaultMaxHeaderBytes) }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// ParseHeaderFields sets the fields of in that come from its (lower-case)
// Headers: Cookies from every cookie header, each one input never split on
// ",", and RequestID from the first x-request-id. More cookie pairs than
// cookie.MaxCookies is refused (cookie.ErrTooManyCookies), never read in
// part.
func (in *Input) ParseHeaderFields() error {
	if cs := in.Headers["cookie"]; len(cs) > 0 {
		cookies, err := cookie.ParseLimit(cookie.MaxCookies, cs...)
		if err != nil {
			return err
		}
		in.Cookies = cookies
	}
	if ids := in.Headers["x-request-id"]; len(ids) > 0 {
		in.RequestID = ids[0]
	}
	return nil
}

// SafeHeaderValue reports whether s holds no CR, LF or NUL: a byte that
// would end or split a header line. A front end adds its own rules (Envoy
// needs UTF-8; HTTP header names are tokens).
func SafeHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// Unrenderable is what a front end answers instead of a decision it cannot
// carry as is: a fail-closed 500 misconfigured denial that keeps only the
// name of the original's reason header, if safeName accepts it.
func Unrenderable(d Decision, safeName func(string) bool) Decision {
	reasonHeader := ""
	for _, h := range d.ResponseHeaders {
		if h.Value == string(d.Reason) && safeName(h.Name) {
			reasonHeader = h.Name
			break
		}
	}
	return Denial(d.App, StatusInternalServerError, ReasonMisconfigured, reasonHeader)
}

// LowerASCII lower-cases ASCII letters only, leaving every other byte as it
// is (strings.ToLower would rewrite invalid UTF-8), and returns s itself
// when nothing changes.
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}
