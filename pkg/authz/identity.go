package authz

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Limits on asserted identity values (RFC 5321 sizes for email).
const (
	maxEmailLen     = 254
	maxLocalLen     = 64
	maxUserIDLen    = 255
	maxNameLen      = 256
	maxIdentityVals = 8
)

// Identity errors.
var (
	ErrIdentityMalformed = errors.New("identity malformed")
	ErrIdentityAmbiguous = errors.New("identity ambiguous")
	// ErrNoEmailDomain: a bare user id arrived and no default domain is
	// configured to complete it; comparing a half-built address would be wrong.
	ErrNoEmailDomain = errors.New("bare user id and no default email domain")
)

// Identity is the asserted identity after normalisation.
type Identity struct {
	Email  string // normalised email; "" when absent
	UserID string // stable user id as sent (trimmed); "" when absent
	Name   string // display name, informational
}

// Present reports whether any identity was asserted.
func (id Identity) Present() bool { return id.Email != "" }

// Key returns the identity key compared across requests.
func (id Identity) Key(kind IdentityKeyKind) string {
	if kind == KeyUser && id.UserID != "" {
		return "user:" + id.UserID
	}
	return "email:" + id.Email
}

// HasKey reports whether key is id's identity key, without building it
// (the steady state compares on every request).
func (id Identity) HasKey(kind IdentityKeyKind, key string) bool {
	if kind == KeyUser && id.UserID != "" {
		rest, ok := strings.CutPrefix(key, "user:")
		return ok && rest == id.UserID
	}
	rest, ok := strings.CutPrefix(key, "email:")
	return ok && rest == id.Email
}

// ParseIdentity extracts and normalises the asserted identity from the
// request headers according to the policy. It returns an error wrapping
// ErrIdentityMalformed, ErrIdentityAmbiguous or ErrNoEmailDomain.
func ParseIdentity(h Headers, p *Policy) (Identity, error) {
	var id Identity
	email, err := singleValue(h.Get(p.EmailHeader), NormalizeEmail)
	if err != nil {
		return Identity{}, err
	}
	user := ""
	if p.UserHeader != "" {
		user, err = singleValue(h.Get(p.UserHeader), normalizeUserID)
		if err != nil {
			return Identity{}, err
		}
	}
	if email == "" && user != "" {
		if email, err = emailOfUser(user, p); err != nil {
			return Identity{}, err
		}
	}
	id.Email, id.UserID = email, user
	if id.Email != "" && p.NameHeader != "" {
		if vs := h.Get(p.NameHeader); len(vs) > 0 {
			id.Name = cleanName(vs[0])
		}
	}
	if p.IdentityKey == KeyUser && id.Email != "" && id.UserID == "" {
		// Keyed on the user id but the proxy sent none: we cannot compare.
		return Identity{}, errors.Join(ErrIdentityMalformed, errors.New("user id header missing"))
	}
	return id, nil
}

// emailOfUser returns the email a user id stands for when no email was
// asserted: a user id that is itself an email stands in for the email; a
// bare id is completed with the default domain.
func emailOfUser(user string, p *Policy) (string, error) {
	if strings.Contains(user, "@") {
		return NormalizeEmail(user)
	}
	if p.DefaultEmailDomain != "" {
		return NormalizeEmail(user + "@" + p.DefaultEmailDomain)
	}
	return "", ErrNoEmailDomain
}

// singleValue normalises every value of a header (several lines, or one line
// joined with ",") and returns the one value they agree on. Blank values
// count as absent; two different values are ambiguous.
func singleValue(vals []string, normalize func(string) (string, error)) (string, error) {
	var out string
	n := 0
	for _, line := range vals {
		for part := range strings.SplitSeq(line, ",") {
			n++
			if n > maxIdentityVals {
				return "", ErrIdentityAmbiguous
			}
			v, err := normalize(part)
			if err != nil {
				return "", err
			}
			if v == "" {
				continue
			}
			if out != "" && v != out {
				return "", ErrIdentityAmbiguous
			}
			out = v
		}
	}
	return out, nil
}

// NormalizeEmail trims s, applies Unicode NFC and lower-cases its ASCII
// letters, canonicalises the domain with IDNA, then checks the email's
// shape in one linear pass (no regular expression, no backtracking).
// Whitespace-only input is absent: ("", nil). "%" and "_" are ordinary
// characters (lookups are exact matches, never LIKE).
//
// Identities are never compatibility-folded (invariant 12): "ﬁ", "ａ" or
// "²" are not "fi", "a" or "2", so look-alike addresses are different
// people. A non-ASCII local part is kept as sent after NFC (RFC 6531
// leaves its case to the receiving server; only ASCII letters are
// lower-cased, as every mail system does). The domain is validated for
// registration by IDNA2008 (RFC 5891: no mapping, so a full-width or
// circled letter is refused, not folded), after lower-casing as DNS does,
// and kept in its Unicode form, so "xn--…" and the Unicode spelling of one
// domain are one identity.
func NormalizeEmail(s string) (string, error) {
	if len(s) > 4*maxEmailLen {
		return "", ErrIdentityMalformed
	}
	if !utf8.ValidString(s) {
		return "", ErrIdentityMalformed
	}
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	// Only the white space a header may carry around a value is trimmed;
	// any other (U+00A0, U+3000) is part of the value, and refused below.
	s = norm.NFC.String(strings.Trim(s, " \t"))
	if len(s) > maxEmailLen {
		return "", ErrIdentityMalformed
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > maxLocalLen || at == len(s)-1 {
		return "", ErrIdentityMalformed
	}
	// NFC again after lower-casing: a capital with a combining mark may
	// have no precomposed form while its small letter has one ("Y̊" and
	// "ẙ"), and normalising twice must give what normalising once gave.
	local := norm.NFC.String(LowerASCII(s[:at]))
	if !validLocal(local) {
		return "", ErrIdentityMalformed
	}
	domain, ok := canonicalDomain(s[at+1:])
	if !ok {
		return "", ErrIdentityMalformed
	}
	e := local + "@" + domain
	if len(e) > maxEmailLen {
		return "", ErrIdentityMalformed
	}
	return e, nil
}

// canonicalDomain returns the canonical form of an email's domain: ASCII
// lower-case for an ASCII domain; for an internationalised one (Unicode or
// "xn--" labels) the Unicode form of a name valid for registration under
// IDNA2008, which maps nothing: a character that IDNA would only accept
// after compatibility mapping (full-width, circled, ligature) is refused.
func canonicalDomain(d string) (string, bool) {
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		d = LowerASCII(d)
		if !strings.HasPrefix(d, "xn--") && !strings.Contains(d, ".xn--") {
			return d, validDomain(d)
		}
	} else {
		d = norm.NFC.String(strings.ToLower(d))
	}
	a, err := idna.Registration.ToASCII(d)
	if err != nil || !validDomain(a) {
		return "", false
	}
	u, err := idna.Registration.ToUnicode(a)
	if err != nil {
		return "", false
	}
	// The Unicode form must be its own canonical form: an "xn--" label may
	// decode to capitals (IDNA's ToUnicode does not lower-case), which
	// would read as another domain on the next pass.
	if again := norm.NFC.String(strings.ToLower(u)); again != u {
		return "", false
	}
	return u, true
}

// validLocal accepts dot-atoms: letters, digits (any script) and RFC 5322
// atext symbols, dots only between characters.
func validLocal(s string) bool {
	prevDot := true
	for _, r := range s {
		switch {
		case r == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case r < 0x80 && strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
		default:
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// validDomain accepts dot-separated labels of letters, digits and inner
// hyphens, each at most 63 bytes (callers pass the ASCII form).
func validDomain(s string) bool {
	label := 0
	prev := rune('.')
	for _, r := range s {
		switch {
		case r == '.':
			if label == 0 || prev == '-' {
				return false
			}
			label = 0
		case r == '-':
			if label == 0 {
				return false
			}
			label++
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			label += utf8.RuneLen(r)
		default:
			return false
		}
		if label > 63 {
			return false
		}
		prev = r
	}
	return label > 0 && prev != '-'
}

// normalizeUserID trims a stable user id; ids are case-sensitive, so nothing
// else changes. Control characters and overlong ids are malformed.
func normalizeUserID(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrIdentityMalformed
	}
	s = strings.TrimSpace(s)
	if len(s) > maxUserIDLen {
		return "", ErrIdentityMalformed
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == ' ' {
			return "", ErrIdentityMalformed
		}
	}
	return s, nil
}

// cleanName keeps a display name printable and bounded; it is never compared.
func cleanName(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
