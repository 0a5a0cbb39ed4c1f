package envoy

import (
	"errors"
	"slices"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Errors returned by ToInput. The server answers both with a 400
// request_invalid denial.
var (
	ErrTooManyHeaders  = errors.New("envoy: too many request headers")
	ErrHeadersTooLarge = errors.New("envoy: request headers too large")
)

// AppKey is the context_extensions key that names a route's app.
const AppKey = "app"

// ToInput converts req with the default limits; see Options.ToInput.
func ToInput(req *authv3.CheckRequest) (authz.Input, error) {
	return Options{}.ToInput(req)
}

// ToInput converts req into an authz.Input, reading headers from both the
// headers map and header_map. It returns ErrTooManyHeaders or
// ErrHeadersTooLarge (and a zero Input) when the request exceeds o's limits.
// A nil request, or one missing any sub-message, yields an Input with only
// what is present.
func (o Options) ToInput(req *authv3.CheckRequest) (authz.Input, error) {
	attrs := req.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	mp := hr.GetHeaders()
	hm := hr.GetHeaderMap().GetHeaders()

	// Bound the work before building anything.
	n := len(mp) + len(hm)
	if n > o.maxHeaders() {
		return authz.Input{}, ErrTooManyHeaders
	}
	size, rawSize := 0, 0
	for k, v := range mp {
		size += len(k) + len(v)
	}
	for _, e := range hm {
		if r := e.GetRawValue(); len(r) > 0 {
			size += len(e.GetKey()) + len(r)
			rawSize += len(r)
		} else {
			size += len(e.GetKey()) + len(e.GetValue())
		}
	}
	if size > o.maxHeaderBytes() {
		return authz.Input{}, ErrHeadersTooLarge
	}

	in := authz.Input{
		App:    attrs.GetContextExtensions()[AppKey],
		Method: hr.GetMethod(),
		Scheme: hr.GetScheme(),
		Host:   hr.GetHost(),
		Path:   hr.GetPath(),
	}
	if n == 0 {
		in.Headers = authz.Headers{}
		return in, nil
	}

	// One backing array holds the first value of every name; a name seen
	// again reallocates only its own slice (the three-index slice caps it).
	if o.Keep != nil {
		n = min(n, len(o.Keep))
	}
	h := make(authz.Headers, n)
	vals := make([]string, 0, n)
	add := func(name, v string) {
		if o.Keep != nil && !o.Keep[name] {
			return
		}
		if cur, ok := h[name]; ok {
			h[name] = append(cur, v)
			return
		}
		vals = append(vals, v)
		i := len(vals)
		h[name] = vals[i-1 : i : i]
	}

	// Envoy sends map keys lower-case, so all of them normally go straight
	// in. Keys that are not lower-case could collide with another key after
	// lower-casing; they are added afterwards in sorted order so that the
	// order of values under one name never depends on map iteration.
	var mixed []string
	for k, v := range mp {
		if k == "" {
			continue
		}
		if hasUpper(k) {
			mixed = append(mixed, k)
			continue
		}
		add(k, v)
	}
	if len(mixed) > 0 {
		slices.Sort(mixed)
		for _, k := range mixed {
			add(lowerASCII(k), mp[k])
		}
	}
	// raw_value bytes become strings through one buffer: one allocation for
	// all of them instead of one per header line.
	var raws string
	if rawSize > 0 {
		var sb strings.Builder
		sb.Grow(rawSize)
		for _, e := range hm {
			sb.Write(e.GetRawValue())
		}
		raws = sb.String()
	}
	off := 0
	for _, e := range hm {
		k := lowerASCII(e.GetKey())
		v := e.GetValue()
		if r := e.GetRawValue(); len(r) > 0 {
			v = raws[off : off+len(r)]
			off += len(r)
		}
		if k == "" {
			continue
		}
		add(k, v)
	}
	in.Headers = h

	// The fields are authoritative; the pseudo-headers only fill gaps.
	fill := func(dst *string, name string) {
		if *dst == "" {
			if vs := h[name]; len(vs) > 0 {
				*dst = vs[0]
			}
		}
	}
	fill(&in.Method, ":method")
	fill(&in.Scheme, ":scheme")
	fill(&in.Host, ":authority")
	fill(&in.Path, ":path")

	if cs := h["cookie"]; len(cs) > 0 {
		in.Cookies = cookie.Parse(cs...)
	}
	if ids := h["x-request-id"]; len(ids) > 0 {
		in.RequestID = ids[0]
	}
	return in, nil
}

// hasUpper reports whether s has an ASCII upper-case letter.
func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// lowerASCII lower-cases ASCII letters only, leaving every other byte as it
// is (strings.ToLower would rewrite invalid UTF-8), and returns s itself
// when nothing changes.
func lowerASCII(s string) string {
	if !hasUpper(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// appOf reads the app name of a request that ToInput rejected.
func appOf(req *authv3.CheckRequest) string {
	return req.GetAttributes().GetContextExtensions()[AppKey]
}
