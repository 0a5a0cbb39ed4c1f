package authz_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Invariant 11: a path is bypassed only if every reading of it an upstream
// may make lies under the prefix. Ambiguous paths are never bypassed.
func TestBypassed(t *testing.T) {
	prefixes := []string{"/god-mode", "/health/"}
	for _, tc := range []struct {
		path   string
		bypass bool
	}{
		// What works stays working.
		{"/god-mode", true},
		{"/god-mode/", true},
		{"/god-mode/settings", true},
		{"/god-mode/settings?next=/../api&x=%2F", true},
		{"/%67od-mode/x", true},
		{"/god-mode/a%20b", true},
		{"/god-mode/caf%C3%A9", true},
		{"/god-mode/100%25", true},
		{"/health", true},
		{"/health/live", true},
		{"/healthz", false},
		{"/god-modex", false},
		{"/api/x", false},
		{"", false},
		{"god-mode", false},
		{"//god-mode", false},
		{"/god-mode/%zz", false},
		// Encoded "/" : data to Envoy and most frameworks, a separator to others.
		{"/api/x/..%2F..%2Fgod-mode", false},
		{"/god-mode%2F..%2Fapi", false},
		{"/god-mode/x%2fy", false},
		{"/god-mode/%252F", false},
		// Dot segments, plain or encoded, resolve differently upstream.
		{"/api/x/%2e%2e/%2e%2e/god-mode", false},
		{"/god-mode/../api", false},
		{"/api/../god-mode", false},
		{"/god-mode/./x", false},
		{"/god-mode/.%2e/api", false},
		{"/god-mode/%252e%252e/api", false},
		{"/god-mode/.../api", false},
		{"/god-mode/%C0%AE%C0%AE/api", false},
		{"/god-mode/%EF%BC%8E%EF%BC%8E/api", false},
		{"/god-mode/\uff0e\uff0e/api", false},
		// ";" starts path parameters for servlet-family servers.
		{"/god-mode/..;/api/x", false},
		{"/god-mode;x=1/a", false},
		{"/god-mode/x;y", false},
		{"/god-mode/x%3By", false},
		// "\" is a separator to some servers.
		{"/god-mode\\..\\api", false},
		{"/god-mode%5C..%5Capi", false},
		{"/god-mode/\uff3capi", false},
		// Decoded "?" or "#" would end the path for a server that decodes
		// before it parses; control bytes are never a path.
		{"/god-mode%3F/x", false},
		{"/god-mode/x%23y", false},
		{"/god-mode/%00", false},
		{"/god-mode/%0d%0a", false},
		{"/god-mode/\x7f", false},
	} {
		if got := authz.Bypassed(tc.path, prefixes); got != tc.bypass {
			t.Errorf("Bypassed(%q) = %v, want %v", tc.path, got, tc.bypass)
		}
	}
}

// readings are ways an upstream may read a request path: raw, decoded once
// or twice, with dot segments resolved, with ";params" dropped, with "\" as
// "/", with Unicode compatibility folding, with repeated slashes merged.
func readings(raw string) []string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	out := []string{raw}
	cur := raw
	for range 3 {
		dec, err := url.PathUnescape(cur)
		if err != nil || dec == cur {
			break
		}
		out = append(out, dec)
		cur = dec
	}
	var more []string
	for _, r := range out {
		more = append(more,
			norm.NFKC.String(r),
			strings.ReplaceAll(r, "\\", "/"),
			dropParams(r),
			resolveDots(r),
			resolveDots(dropParams(strings.ReplaceAll(norm.NFKC.String(r), "\\", "/"))),
		)
	}
	return append(out, more...)
}

func dropParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return strings.Join(segs, "/")
}

func resolveDots(p string) string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

func under(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

func FuzzBypassed(f *testing.F) {
	for _, s := range []string{"/god-mode/x", "/api/..%2Fgod-mode", "/god-mode/..;/api", "/god-mode/%2e%2e/api",
		"/god-mode\\..\\api", "/%67od-mode", "/god-mode/%252e%252e/x", "/god-mode/\uff0e\uff0e/x", "/god-mode?/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !authz.Bypassed(s, []string{"/god-mode"}) {
			return
		}
		// Every reading decodes the letters the same way: compare on the
		// fully decoded form of each reading.
		for _, r := range readings(s) {
			dec := r
			for range 4 {
				d, err := url.PathUnescape(dec)
				if err != nil {
					break
				}
				dec = d
			}
			if !under(dec, "/god-mode") && !under(strings.ReplaceAll(dec, "//", "/"), "/god-mode") {
				t.Fatalf("Bypassed(%q) but a reading %q is outside /god-mode", s, r)
			}
		}
	})
}
