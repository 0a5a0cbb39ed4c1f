package authz

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizePath returns the canonical form of a path: query and fragment
// dropped, percent-decoded once, dot segments removed (RFC 3986 §5.2.4) and
// repeated slashes folded. ok is false for targets that do not decode
// cleanly (bad escapes, NUL, control bytes, "\", not starting with "/").
// Configuration uses it to require bypass prefixes in canonical form;
// requests are not matched on it (one reading among several): see Bypassed.
func NormalizePath(raw string) (path string, ok bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return "", false
	}
	for i := 0; i < len(dec); i++ {
		if dec[i] < 0x20 || dec[i] == 0x7f || dec[i] == '\\' {
			return "", false
		}
	}
	segs := strings.Split(dec[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case "":
			if i == len(segs)-1 { // keep a trailing slash
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

// matchPrefix reports whether path lies under prefix on whole segments:
// "/health" matches "/health" and "/health/x", never "/healthz".
func matchPrefix(path, prefix string) bool {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// maxDecodes bounds how many layers of percent-encoding Bypassed unwraps
// (a proxy and an app may each decode once; beyond that it gives up).
const maxDecodes = 4

// Bypassed reports whether the request target falls under one of prefixes
// however an upstream may read it (invariant 11). The query is ignored and
// percent-encoded ordinary characters match their letters ("/%68ealth" is
// "/health"), but a path that different servers read differently is never
// bypassed, at any layer of decoding (a proxy decodes once, an app may
// decode again): an encoded "/", a "\", a dot segment (".", "..", "...";
// plain, encoded or after Unicode compatibility folding), a ";" (path
// parameters, dropped by servlet-family servers), a decoded "?" or "#", a
// control byte or invalid UTF-8. Such a request is judged like any other.
func Bypassed(rawPath string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return false
	}
	path, ok := unambiguousPath(rawPath)
	if !ok {
		return false
	}
	for _, pre := range prefixes {
		if matchPrefix(path, pre) {
			return true
		}
	}
	return false
}

// unambiguousPath returns the path of a request target decoded once, or
// ok false when some reading of it could differ from that one in its
// segments (see Bypassed).
func unambiguousPath(raw string) (path string, ok bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	slashes := strings.Count(raw, "/")
	cur := raw
	for layer := 0; ; layer++ {
		if !plainSegments(cur, layer > 0) || strings.Count(cur, "/") != slashes {
			return "", false
		}
		if layer == 1 {
			path = cur
		}
		if !strings.Contains(cur, "%") {
			break
		}
		dec, err := url.PathUnescape(cur)
		if err != nil {
			if layer == 0 {
				return "", false // the request itself is malformed
			}
			break // a literal "%" after decoding: no further layer to read
		}
		if layer == maxDecodes {
			return "", false
		}
		cur = dec
	}
	if path == "" {
		path = raw // nothing was encoded
	}
	return path, true
}

// plainSegments reports whether p (one decoding layer of a path) has only
// segments every server reads alike: no "\", ";", control byte or invalid
// UTF-8, no segment of dots only, and none of that after Unicode
// compatibility folding either (some servers fold "．" to "."). decoded
// marks a layer produced by decoding, where "?" and "#" are data that a
// server decoding before parsing would take for the end of the path.
func plainSegments(p string, decoded bool) bool {
	if !utf8.ValidString(p) {
		return false
	}
	ascii, ok := plainBytes(p, decoded)
	if !ok || hasDotSegment(p) {
		return false
	}
	if !ascii {
		folded := norm.NFKC.String(p)
		if folded != p && (strings.Count(folded, "/") != strings.Count(p, "/") || !plainSegments(folded, true)) {
			return false
		}
	}
	return true
}

// plainBytes reports whether p has no "\", ";" or control byte (nor "?"
// or "#" in a decoded layer), and whether it is all ASCII.
func plainBytes(p string, decoded bool) (ascii, ok bool) {
	ascii = true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c < 0x20 || c == 0x7f || c == '\\' || c == ';':
			return ascii, false
		case decoded && (c == '?' || c == '#'):
			return ascii, false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii, true
}

// hasDotSegment reports a segment of p made of dots only.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg != "" && strings.Trim(seg, ".") == "" {
			return true
		}
	}
	return false
}
