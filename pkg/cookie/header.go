package cookie

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Cookie is one name=value pair from a Cookie request header.
type Cookie struct {
	Name  string
	Value string
}

// MaxCookies is how many pairs the front ends read from one request. A
// request with more is refused (ErrTooManyCookies), never read in part:
// stopping early would hide every cookie after the limit. Browsers keep
// far fewer per site (Chromium 180 per domain), and the header-size limits
// already bound the work; this bound is on what a session row may record
// about the request (fingerprints of native cookies).
const MaxCookies = 1024

// ErrTooManyCookies reports a request with more cookie pairs than the
// caller reads. Front ends answer it with a 400.
var ErrTooManyCookies = errors.New("cookie: too many cookies")

// Parse reads the pairs of one or more Cookie header values, each value
// being one header line (or one entry of a proxy's header map) as it
// arrived. It follows RFC 6265 §5.4: pairs are separated by ";" only — a
// "," is part of a value, and quotes are part of a value too. White space
// (SP, HTAB) around a pair and around its "=" is not part of the name or
// value. A piece with no "=", or whose name is not an HTTP token, is left
// out of the result: no configured name can match it (Strip keeps it
// upstream all the same). Order is preserved and duplicates are kept
// (callers decide what a duplicate means). Parse has no limit on the count:
// see ParseLimit.
func Parse(headers ...string) []Cookie {
	out, _ := parse(-1, headers)
	return out
}

// ParseLimit is Parse that fails with ErrTooManyCookies (and no pairs) when
// the headers hold more than max pairs; it never returns part of them.
func ParseLimit(max int, headers ...string) ([]Cookie, error) {
	return parse(max, headers)
}

func parse(max int, headers []string) ([]Cookie, error) {
	n := 0
	for _, h := range headers {
		n += strings.Count(h, ";") + 1
	}
	if max >= 0 {
		n = min(n, max)
	}
	out := make([]Cookie, 0, n)
	for _, h := range headers {
		for piece := range strings.SplitSeq(h, ";") {
			name, value, ok := pair(piece)
			if !ok || !validName(name) {
				continue
			}
			if max >= 0 && len(out) == max {
				return nil, ErrTooManyCookies
			}
			out = append(out, Cookie{Name: name, Value: value})
		}
	}
	return out, nil
}

// pair splits one piece of a Cookie header at its first "=" and trims SP
// and HTAB around name and value. ok is false without "=".
func pair(piece string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(piece, "=")
	return trimOWS(name), trimOWS(value), ok
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// Strip returns the Cookie header an upstream should receive once every
// pair whose name drop reports true is taken out of lines (the request's
// Cookie header lines, as Parse read them). Names are read exactly as
// Parse reads them. Every other piece — pairs whose names are not tokens,
// pieces without "=", quoted values, commas — is kept byte for byte (white
// space around it aside); pieces are joined with "; " and empty pieces are
// dropped. removed is false, and the header is not rebuilt, when nothing
// matched. A kept piece that is not valid UTF-8 or holds a control byte
// (other than a tab) is left out of a rebuilt header: proxies carry header
// values as strings (Envoy's protocol cannot carry those bytes), a header
// value may not hold them, and one stray cookie must not make the answer
// fail.
func Strip(lines []string, drop func(name string) bool) (header string, removed bool) {
	if !anyDropped(lines, drop) {
		return "", false
	}
	return rebuild(lines, drop), true
}

// anyDropped reports whether some pair in lines has a name drop reports
// true for.
func anyDropped(lines []string, drop func(name string) bool) bool {
	for _, h := range lines {
		for piece := range strings.SplitSeq(h, ";") {
			if name, _, ok := pair(piece); ok && drop(name) {
				return true
			}
		}
	}
	return false
}

// rebuild joins the pieces of lines that Strip keeps with "; ".
func rebuild(lines []string, drop func(name string) bool) string {
	size := 0
	for _, h := range lines {
		size += len(h) + 2
	}
	var b strings.Builder
	b.Grow(size)
	for _, h := range lines {
		for piece := range strings.SplitSeq(h, ";") {
			piece = trimOWS(piece)
			if piece == "" || !utf8.ValidString(piece) || hasCTL(piece) {
				continue
			}
			if name, _, ok := pair(piece); ok && drop(name) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(piece)
		}
	}
	return b.String()
}

// hasCTL reports a control byte other than a horizontal tab.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
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

// Format renders pairs into a Cookie request header, leaving out every pair
// whose name drop reports true and every pair that is not valid UTF-8. It
// returns "" when nothing is left. It renders what Parse kept, so it is not
// the upstream header: to rewrite a request's Cookie header use Strip,
// which keeps what Parse leaves out.
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
