package authz

import (
	"net/url"
	"strings"
)

// NormalizePath turns a raw request target into the path a bypass prefix is
// matched against: query and fragment dropped, percent-decoded once, dot
// segments removed (RFC 3986 §5.2.4) and repeated slashes folded. ok is false
// for targets that do not decode cleanly (bad escapes, NUL, control bytes,
// not starting with "/"); such a request never bypasses.
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

// Bypassed reports whether the request target falls under one of prefixes.
func Bypassed(rawPath string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return false
	}
	p, ok := NormalizePath(rawPath)
	if !ok {
		return false
	}
	for _, pre := range prefixes {
		if matchPrefix(p, pre) {
			return true
		}
	}
	return false
}
