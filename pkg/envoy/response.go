package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"unicode/utf8"

	"github.com/extauthz/extauthz/pkg/authz"
)

const (
	overwrite = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	setCookie = "set-cookie"
)

// FromDecision renders d as a CheckResponse (see the package doc for the
// mapping). The response shares d's UpstreamRemove slice.
func FromDecision(d authz.Decision, o Options) *authv3.CheckResponse {
	if !safeDecision(&d) {
		d = authz.Unrenderable(d, safeName)
	}
	if d.Allow {
		return allowResponse(&d, o)
	}
	return denyResponse(&d, o)
}

func allowResponse(d *authz.Decision, o Options) *authv3.CheckResponse {
	nUp, nResp := len(d.UpstreamSet), len(d.SetCookies)+len(d.ResponseHeaders)
	hs := newHeaders(nUp + nResp)
	for _, h := range d.UpstreamSet {
		hs.add(h.Name, h.Value, overwrite)
	}
	addBrowserHeaders(&hs, d, o)
	ok := &authv3.OkHttpResponse{HeadersToRemove: d.UpstreamRemove}
	if nUp > 0 {
		ok.Headers = hs.ptrs[:nUp:nUp]
	}
	if nResp > 0 {
		ok.ResponseHeadersToAdd = hs.ptrs[nUp:]
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

func denyResponse(d *authz.Decision, o Options) *authv3.CheckResponse {
	code := codes.PermissionDenied
	if d.Status == 401 {
		code = codes.Unauthenticated
	}
	status := typev3.StatusCode(d.Status)
	if d.Status < 200 || d.Status > 599 {
		// Envoy rejects undefined codes; a denial without a usable status is
		// what Envoy itself makes of an unset one.
		status = typev3.StatusCode_Forbidden
	}
	hs := newHeaders(len(d.SetCookies) + len(d.ResponseHeaders))
	addBrowserHeaders(&hs, d, o)
	denied := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: status},
		Body:   d.Body,
	}
	if len(hs.ptrs) > 0 {
		denied.Headers = hs.ptrs
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}
}

// addBrowserHeaders adds the set-cookie lines, each its own header with the
// configured append action, then the response headers with overwrite
// semantics: they are ours (x-extauthz-reason, cache-control, location), and
// on a local reply content-type must replace Envoy's text/plain.
func addBrowserHeaders(hs *headers, d *authz.Decision, o Options) {
	for _, c := range d.SetCookies {
		hs.add(setCookie, c, o.SetCookieAction)
	}
	for _, h := range d.ResponseHeaders {
		hs.add(h.Name, h.Value, overwrite)
	}
}

// headers builds HeaderValueOptions in three allocations whatever their
// number: one slab of options, one of values and the pointer slice.
type headers struct {
	opts []corev3.HeaderValueOption
	vals []corev3.HeaderValue
	ptrs []*corev3.HeaderValueOption
}

func newHeaders(n int) headers {
	if n == 0 {
		return headers{}
	}
	return headers{
		opts: make([]corev3.HeaderValueOption, n),
		vals: make([]corev3.HeaderValue, n),
		ptrs: make([]*corev3.HeaderValueOption, 0, n),
	}
}

func (hs *headers) add(name, value string, action corev3.HeaderValueOption_HeaderAppendAction) {
	i := len(hs.ptrs)
	v := &hs.vals[i]
	v.Key, v.Value = name, value
	opt := &hs.opts[i]
	opt.Header, opt.AppendAction = v, action
	hs.ptrs = append(hs.ptrs, opt)
}

// safeDecision reports whether every header name and value of d is one Envoy
// accepts: a CR, LF or NUL would make Envoy reject the whole response and
// take its error path (failure_mode_allow may then let the request through
// without our header mutations).
//
// The body is a proto3 string too: one that is not UTF-8 cannot be
// marshalled either.
func safeDecision(d *authz.Decision) bool {
	return d.HeadersValid(safeName, safeValue) && utf8.ValidString(d.Body)
}

func safeName(s string) bool { return s != "" && safeValue(s) }

func safeValue(s string) bool {
	// HeaderValue.value is a proto3 string: invalid UTF-8 cannot be
	// marshalled, and a failed RPC would hand the decision to Envoy's
	// failure_mode_allow instead of ours.
	return authz.SafeHeaderValue(s) && utf8.ValidString(s)
}
