package httpcheck

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Mode selects how a decision is rendered.
type Mode int

const (
	// Forward answers with the decision's real status (Traefik ForwardAuth,
	// Caddy forward_auth, any generic caller).
	Forward Mode = iota
	// Nginx answers only 200, 401 or 403, carrying the real status in
	// X-Extauthz-Status and every Set-Cookie also as a numbered header.
	Nginx
)

// Response headers of the check that are ours.
const (
	// HeaderStatus carries the decision's real status on nginx denials.
	HeaderStatus = "X-Extauthz-Status"
	// HeaderCookie carries the Cookie header the upstream must see.
	HeaderCookie = "X-Extauthz-Cookie"
	// HeaderUpstreamCookie carries the same value under the name the
	// upstream header has, on /check allows only, and only when it is not
	// empty: Traefik's authResponseHeaders copies a header under its own
	// name, deleting the request's copy first, so listing Cookie there
	// replaces the upstream Cookie header (and removes it when this header
	// is absent). Never sent on denials, which proxies copy to the browser.
	HeaderUpstreamCookie = "Cookie"
	// HeaderSetCookiePrefix + n (1-based) carries the n-th Set-Cookie on the
	// nginx endpoints.
	HeaderSetCookiePrefix = "X-Extauthz-Set-Cookie-"
)

// Response is a rendered decision: what the check endpoint writes.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Write sends r.
func (r Response) Write(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range r.Header {
		h[k] = vs
	}
	w.WriteHeader(r.Status)
	if r.Body != "" {
		_, _ = w.Write([]byte(r.Body))
	}
}

// FromDecision renders d, decided for in, for mode (see the package doc).
func FromDecision(d authz.Decision, in authz.Input, mode Mode, o Options) Response {
	if !safeDecision(&d) {
		d = authz.Unrenderable(d, safeName)
	}
	if mode == Nginx && len(d.SetCookies) > o.nginxSetCookies() {
		d = tooManyCookies(d, o.nginxSetCookies())
	}
	if d.Allow {
		return allowResponse(&d, in, mode)
	}
	return denyResponse(&d, in, mode)
}

func allowResponse(d *authz.Decision, in authz.Input, mode Mode) Response {
	h := make(http.Header, len(d.UpstreamSet)+len(d.ResponseHeaders)+3)
	cookieSet, cookieRemoved := false, false
	for _, u := range d.UpstreamSet {
		if u.Name == "cookie" {
			h.Set(HeaderCookie, u.Value)
			cookieSet = true
			continue
		}
		h.Set(u.Name, u.Value)
	}
	for _, name := range d.UpstreamRemove {
		if name == "cookie" {
			cookieRemoved = true
		}
	}
	switch {
	case cookieSet:
	case cookieRemoved:
		// Present and empty: "the upstream gets no Cookie header".
		h[HeaderCookie] = []string{""}
	case len(in.Headers.Get("cookie")) > 0:
		// Unchanged. Sent anyway: nginx cannot tell an absent header from an
		// empty one, and Caddy may drop a copied header the response lacks.
		h.Set(HeaderCookie, strings.Join(in.Headers.Get("cookie"), "; "))
	}
	if v := h.Get(HeaderCookie); mode == Forward && v != "" {
		h.Set(HeaderUpstreamCookie, v)
	}
	addBrowserHeaders(h, d, in, mode)
	return Response{Status: http.StatusOK, Header: h}
}

func denyResponse(d *authz.Decision, in authz.Input, mode Mode) Response {
	status := d.Status
	if status < 200 || status > 599 {
		status = http.StatusForbidden
	}
	h := make(http.Header, len(d.ResponseHeaders)+3)
	if mode == Nginx {
		h.Set(HeaderStatus, strconv.Itoa(status))
		status = nginxStatus(status)
	}
	addBrowserHeaders(h, d, in, mode)
	return Response{Status: status, Header: h, Body: d.Body}
}

// nginxStatus maps a denial's status onto the two nginx passes on. Those
// that ask the browser to do something (302 to the same URL, 400 fix the
// request) become 401; server-side failures (500, 503) become 403, so that
// a config that forgets the error_page mapping never sends the browser to
// a sign-in page because the database is down.
func nginxStatus(status int) int {
	switch status {
	case 401, 403:
		return status
	case 302, 400:
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

// addBrowserHeaders adds the Set-Cookie lines (and on nginx their numbered
// copies), then the decision's response headers with overwrite semantics.
func addBrowserHeaders(h http.Header, d *authz.Decision, in authz.Input, mode Mode) {
	for i, c := range d.SetCookies {
		h.Add("Set-Cookie", c)
		if mode == Nginx {
			h.Set(HeaderSetCookiePrefix+strconv.Itoa(i+1), c)
		}
	}
	for _, rh := range d.ResponseHeaders {
		v := rh.Value
		if rh.Name == "location" && mode == Forward {
			v = absoluteLocation(v, in)
		}
		h.Set(rh.Name, v)
	}
}

// absoluteLocation turns the engine's relative same-URL Location into an
// absolute one on the original host: Traefik resolves a relative Location
// against the check URL, which would send the browser to extauthz.
func absoluteLocation(loc string, in authz.Input) string {
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return loc
	}
	if in.Host == "" || !safeHost(in.Host) || (in.Scheme != "http" && in.Scheme != "https") {
		return loc
	}
	return in.Scheme + "://" + in.Host + loc
}

// safeHost reports whether host is a plain host[:port] that cannot change
// the meaning of a URL it is pasted into.
func safeHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// safeDecision reports whether every header name and value of d can be sent
// as is. Go's net/http would rewrite a CR or LF to a space rather than fail,
// silently changing a cookie; we fail closed instead.
func safeDecision(d *authz.Decision) bool { return d.HeadersValid(safeName, safeValue) }

func safeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func safeValue(s string) bool { return authz.SafeHeaderValue(s) }

// tooManyCookies replaces a decision whose Set-Cookie lines do not fit the
// nginx mapping: losing some would leave the browser half flushed.
func tooManyCookies(d authz.Decision, limit int) authz.Decision {
	out := authz.Unrenderable(d, safeName)
	out.Body = `{"error":"misconfigured","detail":"more than ` + strconv.Itoa(limit) +
		` Set-Cookie lines for nginx: set the app's max_set_cookies to ` + strconv.Itoa(limit) + `"}`
	return out
}
