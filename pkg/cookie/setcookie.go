package cookie

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SameSite values for SetCookie.
const (
	SameSiteLax    = "Lax"
	SameSiteStrict = "Strict"
	SameSiteNone   = "None"
)

// SetCookie describes one Set-Cookie response header.
type SetCookie struct {
	Name     string
	Value    string
	Domain   string
	Path     string
	MaxAge   time.Duration // > 0: lifetime; ignored when Expire is set
	Expire   bool          // delete the cookie: Max-Age=0 and a past Expires
	Secure   bool
	HttpOnly bool
	SameSite string // "", Lax, Strict or None
}

// epoch is the Expires date used to delete a cookie in browsers that ignore
// Max-Age.
const epoch = "Thu, 01 Jan 1970 00:00:00 GMT"

// ErrInvalidSetCookie reports a Set-Cookie that cannot be rendered safely.
var ErrInvalidSetCookie = errors.New("cookie: invalid Set-Cookie")

// String renders the header value. It fails rather than emit a name, value or
// attribute with control bytes, separators or spaces, so a Set-Cookie built
// here can never split a header or smuggle an attribute.
func (c SetCookie) String() (string, error) {
	path, err := c.check()
	if err != nil {
		return "", err
	}
	return c.render(path), nil
}

// check returns the path to render ("/" when unset), or why c cannot be
// rendered safely.
func (c SetCookie) check() (string, error) {
	if !validName(c.Name) {
		return "", fmt.Errorf("%w: name %q", ErrInvalidSetCookie, c.Name)
	}
	if !validValue(c.Value) {
		return "", fmt.Errorf("%w: value of %s", ErrInvalidSetCookie, c.Name)
	}
	if c.Domain != "" && !validAttr(c.Domain) {
		return "", fmt.Errorf("%w: domain %q", ErrInvalidSetCookie, c.Domain)
	}
	path := c.Path
	if path == "" {
		path = "/"
	}
	if !validAttr(path) || path[0] != '/' {
		return "", fmt.Errorf("%w: path %q", ErrInvalidSetCookie, path)
	}
	if err := c.checkPrefix(path); err != nil {
		return "", err
	}
	switch c.SameSite {
	case "", SameSiteLax, SameSiteStrict, SameSiteNone:
	default:
		return "", fmt.Errorf("%w: SameSite %q", ErrInvalidSetCookie, c.SameSite)
	}
	return path, nil
}

// checkPrefix enforces the rules browsers apply to the __Host- and
// __Secure- name prefixes.
func (c SetCookie) checkPrefix(path string) error {
	if strings.HasPrefix(c.Name, "__Host-") && (c.Domain != "" || path != "/" || !c.Secure) {
		return fmt.Errorf("%w: __Host- cookie needs Secure, Path=/ and no Domain", ErrInvalidSetCookie)
	}
	if strings.HasPrefix(c.Name, "__Secure-") && !c.Secure {
		return fmt.Errorf("%w: __Secure- cookie needs Secure", ErrInvalidSetCookie)
	}
	return nil
}

// render writes the header value of a checked c.
func (c SetCookie) render(path string) string {
	var b strings.Builder
	b.Grow(len(c.Name) + len(c.Value) + 96)
	b.WriteString(c.Name)
	b.WriteByte('=')
	if !c.Expire {
		b.WriteString(c.Value)
	}
	b.WriteString("; Path=")
	b.WriteString(path)
	if c.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(c.Domain)
	}
	switch {
	case c.Expire:
		b.WriteString("; Max-Age=0; Expires=")
		b.WriteString(epoch)
	case c.MaxAge > 0:
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.FormatInt(int64(c.MaxAge/time.Second), 10))
	}
	if c.Secure {
		b.WriteString("; Secure")
	}
	if c.HttpOnly {
		b.WriteString("; HttpOnly")
	}
	if c.SameSite != "" {
		b.WriteString("; SameSite=")
		b.WriteString(c.SameSite)
	}
	return b.String()
}

// validValue reports whether s is an RFC 6265 cookie-value (unquoted form).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// validAttr reports whether s is safe as a Domain or Path attribute value.
func validAttr(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || c == ';' || c == ' ' {
			return false
		}
	}
	return s != ""
}
