package httpcheck

import (
	"errors"
	"net/http"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Errors returned by ToInput. The handler answers each with a 400
// request_invalid denial.
var (
	ErrTooManyHeaders  = errors.New("httpcheck: too many request headers")
	ErrHeadersTooLarge = errors.New("httpcheck: request headers too large")
	// ErrAmbiguousOriginal reports a forwarding header (X-Original-URI,
	// X-Forwarded-Host, …) sent more than once: which one describes the
	// original request cannot be told.
	ErrAmbiguousOriginal = errors.New("httpcheck: forwarding header sent more than once")
)

// The headers the shipped proxy configs describe the original request with.
const (
	HeaderOriginalMethod  = "X-Original-Method" // nginx (set by deploy/nginx)
	HeaderOriginalURI     = "X-Original-Uri"    // nginx: $request_uri
	HeaderForwardedMethod = "X-Forwarded-Method"
	HeaderForwardedURI    = "X-Forwarded-Uri"
	HeaderForwardedHost   = "X-Forwarded-Host"
	HeaderForwardedProto  = "X-Forwarded-Proto"
	// HeaderApp names the app when neither the path nor the query does.
	HeaderApp = "X-Extauthz-App"
	// QueryApp is the query parameter naming the app.
	QueryApp = "app"
)

// Origin names the headers one endpoint reads the original request line
// from. They must be headers that endpoint's proxy sets itself, replacing
// any copy the client sent: the check request carries the client's other
// headers too, so a header the proxy merely passes along would let the
// client choose the method, path or host being judged. Only these are read;
// every other forwarding header on the check request is ignored.
type Origin struct {
	// Method is the header with the original method; "" takes the check
	// request's own method (nginx's auth subrequest keeps it).
	Method string
	// URI is the header with the original request target (path and query).
	// Required: without it every request would be judged as "/".
	URI string
	// Host is the header with the original host; "" or "Host" takes the
	// check request's Host (nginx's proxy_set_header Host $host).
	Host string
	// Proto is the header with the original scheme; "" takes the check
	// connection's.
	Proto string
}

// The default origins of the two endpoint families: nginx (deploy/nginx
// sets X-Original-URI, X-Original-Method, Host and X-Forwarded-Proto on the
// auth subrequest) and Traefik/Caddy (both set X-Forwarded-Method, -Uri,
// -Host and -Proto themselves, overwriting the client's).
var (
	NginxOrigin   = Origin{Method: HeaderOriginalMethod, URI: HeaderOriginalURI, Proto: HeaderForwardedProto}
	ForwardOrigin = Origin{Method: HeaderForwardedMethod, URI: HeaderForwardedURI, Host: HeaderForwardedHost, Proto: HeaderForwardedProto}
)

// ToInput converts a check request of mode with the default options; see
// Options.ToInput.
func ToInput(r *http.Request, app string, mode Mode) (authz.Input, error) {
	return Options{}.ToInput(r, app, mode)
}

// ToInput converts the check request r, received on an endpoint of mode,
// into the authz.Input of the original request it describes, read from
// that mode's Origin headers only. app is the app named by the endpoint's
// path ("" if none); the query parameter and the X-Extauthz-App header are
// consulted only when it is empty. It returns ErrTooManyHeaders,
// ErrHeadersTooLarge, ErrAmbiguousOriginal or cookie.ErrTooManyCookies (and
// an Input with only App set) when the request cannot be read safely.
func (o Options) ToInput(r *http.Request, app string, mode Mode) (authz.Input, error) {
	in := authz.Input{App: appOf(r, app)}

	n, size := 0, 0
	for k, vs := range r.Header {
		n += len(vs)
		for _, v := range vs {
			size += len(k) + len(v)
		}
	}
	if n > o.maxHeaders() {
		return in, ErrTooManyHeaders
	}
	if size > o.maxHeaderBytes() {
		return in, ErrHeadersTooLarge
	}

	var err error
	one := func(name string) string {
		if name == "" || strings.EqualFold(name, "host") {
			return "" // the check request's own, below
		}
		switch vs := r.Header[http.CanonicalHeaderKey(name)]; len(vs) {
		case 0:
			return ""
		case 1:
			return vs[0]
		default:
			err = ErrAmbiguousOriginal
			return ""
		}
	}
	orig := o.origin(mode)
	in.Method = one(orig.Method)
	in.Path = one(orig.URI)
	in.Host = one(orig.Host)
	in.Scheme = one(orig.Proto)
	if err != nil {
		return authz.Input{App: in.App}, err
	}
	if in.Method == "" {
		in.Method = r.Method
	}
	in.Method = strings.ToUpper(strings.TrimSpace(in.Method))
	if in.Path == "" {
		in.Path = "/"
	}
	if in.Host == "" {
		in.Host = r.Host
	}
	if in.Scheme == "" {
		in.Scheme = "http"
		if r.TLS != nil {
			in.Scheme = "https"
		}
	}
	in.Scheme = strings.ToLower(strings.TrimSpace(in.Scheme))

	h := make(authz.Headers, len(r.Header))
	for k, vs := range r.Header {
		name := lowerASCII(k)
		h[name] = append(h[name], vs...)
	}
	in.Headers = h
	if cs := h["cookie"]; len(cs) > 0 {
		// Each header line is one input; more pairs than read is refused,
		// never read in part.
		cookies, err := cookie.ParseLimit(cookie.MaxCookies, cs...)
		if err != nil {
			return authz.Input{App: in.App}, err
		}
		in.Cookies = cookies
	}
	if ids := h["x-request-id"]; len(ids) > 0 {
		in.RequestID = ids[0]
	}
	return in, nil
}

// appOf picks the app: the path's, else the query's, else the header's.
// Only the first query value or header line counts.
func appOf(r *http.Request, fromPath string) string {
	if fromPath != "" {
		return fromPath
	}
	if r.URL != nil {
		if v := r.URL.Query().Get(QueryApp); v != "" {
			return v
		}
	}
	return strings.TrimSpace(r.Header.Get(HeaderApp))
}

// lowerASCII lower-cases ASCII letters only, leaving every other byte as it
// is (strings.ToLower would rewrite invalid UTF-8).
func lowerASCII(s string) string {
	b := []byte(nil)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			if b == nil {
				b = []byte(s)
			}
			b[i] = c + ('a' - 'A')
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}
