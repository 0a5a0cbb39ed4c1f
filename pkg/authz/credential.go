package authz

import (
	"context"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// AccessToken is a programmatic credential issued by extauthz, as stored.
type AccessToken struct {
	Hash      cookie.Hash
	ProfileID string
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	Revoked   bool
	// Profile is the token owner's profile at lookup time.
	Profile Profile
}

// Valid reports whether the token may be used at now.
func (t AccessToken) Valid(now time.Time) bool {
	return !t.Revoked && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// AccessTokenStore resolves programmatic credentials by their SHA-256.
type AccessTokenStore interface {
	// LookupAccessToken returns the token for hash, or an error wrapping
	// ErrNotFound or ErrUnavailable.
	LookupAccessToken(ctx context.Context, hash cookie.Hash) (AccessToken, error)
}

// maxCredentialLen bounds a credential; longer ones are invalid outright.
const maxCredentialLen = 4096

// findCredential returns the first credential of the policy present in the
// headers, and the detector that matched.
func findCredential(h Headers, creds []Credential) (string, Credential, bool) {
	for _, c := range creds {
		for _, v := range h.Get(c.Header) {
			v = strings.TrimSpace(v)
			if c.Scheme != "" {
				scheme, rest, ok := strings.Cut(v, " ")
				if !ok || !strings.EqualFold(scheme, c.Scheme) {
					continue
				}
				v = strings.TrimSpace(rest)
			}
			if v == "" || (c.Prefix != "" && !strings.HasPrefix(v, c.Prefix)) {
				continue
			}
			return v, c, true
		}
	}
	return "", Credential{}, false
}
