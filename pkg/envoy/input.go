package envoy

import (
	"errors"
	"slices"
	"strings"
	"sync"

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
// headers map and header_map. It returns ErrTooManyHeaders,
// ErrHeadersTooLarge or cookie.ErrTooManyCookies (and a zero Input) when the
// request exceeds o's limits.
// A nil request, or one missing any sub-message, yields an Input with only
// what is present.
func (o Options) ToInput(req *authv3.CheckRequest) (authz.Input, error) {
	attrs := req.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	src := source{
		app:    attrs.GetContextExtensions()[AppKey],
		method: hr.GetMethod(),
		scheme: hr.GetScheme(),
		host:   hr.GetHost(),
		path:   hr.GetPath(),
	}
	mp := hr.GetHeaders()
	hm := hr.GetHeaderMap().GetHeaders()
	if len(mp)+len(hm) > o.maxHeaders() {
		return authz.Input{}, ErrTooManyHeaders
	}
	if len(mp) > 0 {
		src.mp = make([]field, 0, len(mp))
		for k, v := range mp {
			src.mp = append(src.mp, field{k, v})
		}
	}
	if len(hm) > 0 {
		// raw_value bytes become strings through one buffer: one allocation
		// for all of them instead of one per header line.
		rawSize := 0
		for _, e := range hm {
			rawSize += len(e.GetRawValue())
		}
		var raws string
		if rawSize > 0 {
			var sb strings.Builder
			sb.Grow(rawSize)
			for _, e := range hm {
				sb.Write(e.GetRawValue())
			}
			raws = sb.String()
		}
		src.hm = make([]mapEntry, len(hm))
		off := 0
		for i, e := range hm {
			me := &src.hm[i]
			me.key, me.value = e.GetKey(), e.GetValue()
			if r := e.GetRawValue(); len(r) > 0 {
				me.raw = raws[off : off+len(r)]
				off += len(r)
			}
		}
	}
	return o.build(&src)
}

// source is what the translation reads from a CheckRequest, whichever way
// it was decoded (the generated message, or DecodeInput's wire reader).
type source struct {
	app, method, scheme, host, path string
	mp                              []field        // the headers map: distinct keys, any order
	hm                              []mapEntry     // header_map, in order
	idx                             map[string]int // the wire reader's index of mp, kept for reuse
}

// sources recycles the wire path's sources: build copies what it keeps,
// so a source is garbage once the Input is built, and its slices (and
// index) would otherwise be allocated again, growing, on every check.
var sources = sync.Pool{New: func() any { return new(source) }}

// release clears s (its strings point into a request) and recycles it.
func (s *source) release() {
	clear(s.mp)
	clear(s.hm)
	clear(s.idx)
	*s = source{mp: s.mp[:0], hm: s.hm[:0], idx: s.idx}
	sources.Put(s)
}

type field struct{ key, value string }

// mapEntry is one HeaderValue of header_map; raw is raw_value ("" when
// unset, and then value counts).
type mapEntry struct{ key, value, raw string }

// build turns src into an Input under o's limits.
func (o Options) build(src *source) (authz.Input, error) {
	// Bound the work before building anything.
	n := len(src.mp) + len(src.hm)
	if n > o.maxHeaders() {
		return authz.Input{}, ErrTooManyHeaders
	}
	size := 0
	for _, f := range src.mp {
		size += len(f.key) + len(f.value)
	}
	for i := range src.hm {
		e := &src.hm[i]
		if e.raw != "" {
			size += len(e.key) + len(e.raw)
		} else {
			size += len(e.key) + len(e.value)
		}
	}
	if size > o.maxHeaderBytes() {
		return authz.Input{}, ErrHeadersTooLarge
	}

	in := authz.Input{
		App:    src.app,
		Method: src.method,
		Scheme: src.scheme,
		Host:   src.host,
		Path:   src.path,
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
	// A map sized for up to 8 entries is one group; the kept headers of a
	// request rarely need more, and a map that does grows.
	h := make(authz.Headers, min(n, 8))
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
	// order of values under one name never depends on map order.
	var mixed []field
	for _, f := range src.mp {
		if f.key == "" {
			continue
		}
		if hasUpper(f.key) {
			mixed = append(mixed, f)
			continue
		}
		add(f.key, f.value)
	}
	if len(mixed) > 0 {
		slices.SortFunc(mixed, func(a, b field) int { return strings.Compare(a.key, b.key) })
		for _, f := range mixed {
			add(lowerASCII(f.key), f.value)
		}
	}
	for i := range src.hm {
		e := &src.hm[i]
		k := lowerASCII(e.key)
		v := e.value
		if e.raw != "" {
			v = e.raw
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
		// Each map value or header_map entry is one input: never split on
		// ",". More pairs than read is refused, never read in part.
		cookies, err := cookie.ParseLimit(cookie.MaxCookies, cs...)
		if err != nil {
			return authz.Input{}, err
		}
		in.Cookies = cookies
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
