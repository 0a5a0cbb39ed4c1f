package cookie

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// TokenPrefix marks the token format version. A future format gets a new
// prefix so that old cookies are recognised (and rejected) cheaply.
const TokenPrefix = "v1."

// tokenBytes is the entropy of a token: 256 bits.
const tokenBytes = 32

// encodedLen is the length of a v1 token: prefix + unpadded base64url(32 bytes).
var encodedLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// ErrMalformedToken is returned by ParseToken for anything that is not a
// well-formed token of a known version.
var ErrMalformedToken = errors.New("cookie: malformed session token")

// Hash is the SHA-256 of a token: the only form in which a token is stored.
type Hash [sha256.Size]byte

// String renders the hash in hex (for logs in debugging tools; never the token).
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Equal compares two hashes in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// IsZero reports whether h is the zero hash (no token).
func (h Hash) IsZero() bool { return h == Hash{} }

// Token is a parsed, well-formed session token.
type Token string

// NewToken returns a fresh token drawn from crypto/rand.
func NewToken() (Token, error) { return newTokenFrom(rand.Reader) }

func newTokenFrom(r io.Reader) (Token, error) {
	var b [tokenBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("cookie: reading random bytes: %w", err)
	}
	return Token(TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// ParseToken validates s as a token. It runs in time linear in len(s) and
// allocates nothing on failure.
func ParseToken(s string) (Token, error) {
	if len(s) != encodedLen || !strings.HasPrefix(s, TokenPrefix) {
		return "", ErrMalformedToken
	}
	for i := len(TokenPrefix); i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", ErrMalformedToken
		}
	}
	// 32 bytes in unpadded base64 are 43 characters carrying 258 bits: the
	// last character's two low bits are padding and must be zero, so that one
	// token has exactly one spelling (what a strict decode checks, without
	// decoding on the hot path).
	if b64Value(s[len(s)-1])&3 != 0 {
		return "", ErrMalformedToken
	}
	return Token(s), nil
}

// b64Value is the value of a base64url character already known to be valid.
func b64Value(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// Hash returns the SHA-256 of the token's full text.
func (t Token) Hash() Hash { return HashString(string(t)) }

// HashString hashes any credential string (access tokens use it too).
func HashString(s string) Hash {
	if len(s) <= 64 {
		// Copy into a stack buffer: converting to []byte would allocate on
		// every check.
		var buf [64]byte
		n := copy(buf[:], s)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(s))
}

// Fingerprint identifies one cookie value without keeping it: the SHA-256
// of "name=value". Sessions remember the fingerprints of the app cookies a
// flush expired, to recognise them if the browser sends them again.
func Fingerprint(name, value string) Hash { return sha256.Sum256([]byte(name + "=" + value)) }
