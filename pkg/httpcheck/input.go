package httpcheck

import (
	"cmp"
	"errors"
	"net/http"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
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
	if err := o.bound(r.Header); err != nil {
		return in, err
	}
	if err := readOrigin(&in, r, o.origin(mode)); err != nil {
		return authz.Input{App: in.App}, err
	}
	h := make(authz.Headers, len(r.Header))
	for k, vs := range r.Header {
		name := authz.LowerASCII(k)
		h[name] = append(h[name], vs...)
	}
	in.Headers = h
	if err := in.ParseHeaderFields(); err != nil {
		return authz.Input{App: in.App}, err
	}
	return in, nil
}

// bound refuses headers beyond o's limits before anything is built.
func (o Options) bound(hdr http.Header) error {
	n, size := 0, 0
	for k, vs := range hdr {
		n += len(vs)
		for _, v := range vs {
			size += len(k) + len(v)
		}
	}
	lim := o.limits()
	if n > lim.MaxCount() {
		return ErrTooManyHeaders
	}
	if size > lim.MaxBytes() {
		return ErrHeadersTooLarge
	}
	return nil
}

// readOrigin sets in's request line from orig's headers of r, falling back
// to the check request's own method, Host and TLS, and "/" for the path.
func readOrigin(in *authz.Input, r *http.Request, orig Origin) error {
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
	in.Method = cmp.Or(one(orig.Method), r.Method)
	in.Method = strings.ToUpper(strings.TrimSpace(in.Method))
	in.Path = cmp.Or(one(orig.URI), "/")
	in.Host = cmp.Or(one(orig.Host), r.Host)
	in.Scheme = one(orig.Proto)
	if in.Scheme == "" {
		in.Scheme = "http"
		if r.TLS != nil {
			in.Scheme = "https"
		}
	}
	in.Scheme = strings.ToLower(strings.TrimSpace(in.Scheme))
	return err
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
