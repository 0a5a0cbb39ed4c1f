package envoy

import (
	"errors"
	"slices"
	"strings"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/authz"
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
	if len(mp)+len(hm) > o.limits().MaxCount() {
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

// build turns src into an Input under o's limits: bound the work, copy the
// request line, collect the headers, then read what the core takes from
// them.
func (o Options) build(src *source) (authz.Input, error) {
	n, err := o.bound(src)
	if err != nil {
		return authz.Input{}, err
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
	if o.Keep != nil {
		n = min(n, len(o.Keep))
	}
	hs := newHeaderSet(n, o.Keep)
	hs.addMap(src.mp)
	hs.addHeaderMap(src.hm)
	in.Headers = hs.h
	fillFromPseudoHeaders(&in)
	if err := in.ParseHeaderFields(); err != nil {
		return authz.Input{}, err
	}
	return in, nil
}

// bound returns the number of header entries of src, or an error when
// src exceeds o's limits, before anything is built.
func (o Options) bound(src *source) (int, error) {
	lim := o.limits()
	n := len(src.mp) + len(src.hm)
	if n > lim.MaxCount() {
		return 0, ErrTooManyHeaders
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
	if size > lim.MaxBytes() {
		return 0, ErrHeadersTooLarge
	}
	return n, nil
}

// headerSet collects the kept headers of one request. One backing array
// holds the first value of every name; a name seen again reallocates only
// its own slice (the three-index slice caps it).
type headerSet struct {
	h    authz.Headers
	vals []string
	keep map[string]bool // nil keeps all
}

func newHeaderSet(n int, keep map[string]bool) headerSet {
	// A map sized for up to 8 entries is one group; the kept headers of a
	// request rarely need more, and a map that does grows.
	return headerSet{h: make(authz.Headers, min(n, 8)), vals: make([]string, 0, n), keep: keep}
}

func (s *headerSet) add(name, v string) {
	if s.keep != nil && !s.keep[name] {
		return
	}
	if cur, ok := s.h[name]; ok {
		s.h[name] = append(cur, v)
		return
	}
	s.vals = append(s.vals, v)
	i := len(s.vals)
	s.h[name] = s.vals[i-1 : i : i]
}

// addMap adds the headers map. Envoy sends its keys lower-case, so all of
// them normally go straight in. Keys that are not lower-case could collide
// with another key after lower-casing; they are added afterwards in sorted
// order so that the order of values under one name never depends on map
// order.
func (s *headerSet) addMap(mp []field) {
	var mixed []field
	for _, f := range mp {
		if f.key == "" {
			continue
		}
		if hasUpper(f.key) {
			mixed = append(mixed, f)
			continue
		}
		s.add(f.key, f.value)
	}
	if len(mixed) > 0 {
		slices.SortFunc(mixed, func(a, b field) int { return strings.Compare(a.key, b.key) })
		for _, f := range mixed {
			s.add(authz.LowerASCII(f.key), f.value)
		}
	}
}

// addHeaderMap adds header_map in order; raw_value, when set, is the value.
func (s *headerSet) addHeaderMap(hm []mapEntry) {
	for i := range hm {
		e := &hm[i]
		k := authz.LowerASCII(e.key)
		v := e.value
		if e.raw != "" {
			v = e.raw
		}
		if k == "" {
			continue
		}
		s.add(k, v)
	}
}

// fillFromPseudoHeaders fills the request line's gaps from the
// pseudo-headers: the CheckRequest's fields are authoritative.
func fillFromPseudoHeaders(in *authz.Input) {
	fill := func(dst *string, name string) {
		if *dst == "" {
			if vs := in.Headers[name]; len(vs) > 0 {
				*dst = vs[0]
			}
		}
	}
	fill(&in.Method, ":method")
	fill(&in.Scheme, ":scheme")
	fill(&in.Host, ":authority")
	fill(&in.Path, ":path")
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

// appOf reads the app name of a request that ToInput rejected.
func appOf(req *authv3.CheckRequest) string {
	return req.GetAttributes().GetContextExtensions()[AppKey]
}
