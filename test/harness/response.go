package harness

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// corev3HeaderMap builds a raw header_map.
type corev3HeaderMap struct{ hs []*corev3.HeaderValue }

func (h *corev3HeaderMap) add(k, v string) {
	h.hs = append(h.hs, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
}

func (h *corev3HeaderMap) m() *corev3.HeaderMap { return &corev3.HeaderMap{Headers: h.hs} }

// Result is a CheckResponse read the way Envoy applies it.
type Result struct {
	Allow bool
	// Status is 200 on allow, the denied_response status otherwise (403 when unset).
	Status int
	// Upstream holds the headers set on the upstream request.
	Upstream map[string]string
	// Removed lists headers_to_remove.
	Removed []string
	// SetCookies are the Set-Cookie lines for the browser.
	SetCookies []string
	// Response holds the other browser response headers (last value wins).
	Response map[string]string
	Body     string
}

// Read interprets a CheckResponse.
func Read(r *authv3.CheckResponse) Result {
	res := Result{Upstream: map[string]string{}, Response: map[string]string{}}
	add := func(hs []*corev3.HeaderValueOption) {
		for _, h := range hs {
			k := strings.ToLower(h.GetHeader().GetKey())
			if k == "set-cookie" {
				res.SetCookies = append(res.SetCookies, h.GetHeader().GetValue())
				continue
			}
			res.Response[k] = h.GetHeader().GetValue()
		}
	}
	if codes.Code(r.GetStatus().GetCode()) == codes.OK {
		res.Allow, res.Status = true, 200
		ok := r.GetOkResponse()
		for _, h := range ok.GetHeaders() {
			res.Upstream[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
		}
		res.Removed = ok.GetHeadersToRemove()
		add(ok.GetResponseHeadersToAdd())
		return res
	}
	d := r.GetDeniedResponse()
	res.Status = int(d.GetStatus().GetCode())
	if res.Status == 0 {
		res.Status = 403
	}
	add(d.GetHeaders())
	res.Body = d.GetBody()
	return res
}

// Reason is the x-extauthz-reason of the response.
func (r Result) Reason() string { return r.Response["x-extauthz-reason"] }

// SessionToken returns the service cookie value set by the response ("" if none).
func (r Result) SessionToken(name string) string {
	for _, c := range r.SetCookies {
		if v, ok := strings.CutPrefix(c, name+"="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

// Expires reports whether the response expires cookie name.
func (r Result) Expires(name string) bool {
	for _, c := range r.SetCookies {
		if strings.HasPrefix(c, name+"=;") && strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}
