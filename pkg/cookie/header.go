package cookie

import (
	"strings"
	"unicode/utf8"
)

// Cookie is one name=value pair from a Cookie request header.
type Cookie struct {
	Name  string
	Value string
}

// maxCookies bounds how many pairs Parse returns, so that a hostile header
// cannot make later stages do unbounded work.
const maxCookies = 256

// Parse splits one or more Cookie header values into pairs. It accepts pairs
// separated by ";" (the standard) or "," (how proxies join repeated headers),
// trims spaces, strips one pair of surrounding double quotes from a value, and
// skips pairs with no "=" or an empty or invalid name. Order is preserved;
// duplicates are kept (callers decide what a duplicate means).
func Parse(headers ...string) []Cookie {
	n := 0
	for _, h := range headers {
		n += strings.Count(h, ";") + strings.Count(h, ",") + 1
	}
	out := make([]Cookie, 0, min(n, maxCookies))
	for _, h := range headers {
		for len(h) > 0 && len(out) < maxCookies {
			var part string
			if i := strings.IndexAny(h, ";,"); i >= 0 {
				part, h = h[:i], h[i+1:]
			} else {
				part, h = h, ""
			}
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			name = strings.TrimSpace(name)
			value = strings.TrimSpace(value)
			if !validName(name) {
				continue
			}
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out = append(out, Cookie{Name: name, Value: value})
		}
	}
	return out
}

// Values returns every value presented for name, in order.
func Values(cookies []Cookie, name string) []string {
	var vs []string
	for _, c := range cookies {
		if c.Name == name {
			vs = append(vs, c.Value)
		}
	}
	return vs
}

// Has reports whether a cookie named name is present.
func Has(cookies []Cookie, name string) bool {
	for _, c := range cookies {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Format renders pairs back into a Cookie request header, leaving out every
// pair whose name drop reports true and every pair that is not valid UTF-8
// (header values travel as strings in Envoy's protocol). It returns "" when
// nothing is left.
func Format(cookies []Cookie, drop func(name string) bool) string {
	size := 0
	for _, c := range cookies {
		size += len(c.Name) + len(c.Value) + 3
	}
	var b strings.Builder
	b.Grow(size)
	for _, c := range cookies {
		if drop != nil && drop(c.Name) || !utf8.ValidString(c.Value) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name)
		b.WriteByte('=')
		b.WriteString(c.Value)
	}
	return b.String()
}

// validName reports whether s is an RFC 6265 cookie-name (an HTTP token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return false
	}
	return true
}
