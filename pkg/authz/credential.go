package authz

import (
	"context"
	"errors"
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

// credential decides rows 1–2. A programmatic request skips the session
// work, so it carries no browser session upstream: the service cookie is
// stripped on every allow, and so are the app's native cookies.
func (t *turn) credential(ctx context.Context, cred string, det Credential) verdict {
	v := t.validateCredential(ctx, cred, det)
	v.stripNatives = true
	return v
}

// validateCredential decides row 1 or 2 for cred.
func (t *turn) validateCredential(ctx context.Context, cred string, det Credential) verdict {
	if det.Mode == CredentialPassThrough {
		return t.passThrough(ctx)
	}
	if t.e.tokens == nil || len(cred) > maxCredentialLen {
		return denied(StatusUnauthorized, ReasonAccessTokenInvalid)
	}
	tok, err := t.e.tokens.LookupAccessToken(ctx, cookie.HashString(cred))
	switch {
	case errors.Is(err, ErrNotFound):
		return denied(StatusUnauthorized, ReasonAccessTokenInvalid)
	case err != nil:
		return failed(err)
	case !tok.Valid(t.now):
		return denied(StatusUnauthorized, ReasonAccessTokenInvalid)
	}
	if r, barred := profileDenied(tok.Profile); barred {
		return denied(StatusForbidden, r)
	}
	return allowed(ReasonAccessToken, tok.ProfileID)
}

// passThrough decides row 1 for a credential the app validates. It skips
// the session work, not the person: when the proxy also asserts an
// identity, row 3 (malformed), row 9 under on_unknown_identity: deny, and
// row 10 (blocked, inactive) apply as for a browser, flush included. An
// unknown person otherwise passes (the app judges its credential), without
// a profile id and without registering anybody.
func (t *turn) passThrough(ctx context.Context) verdict {
	id, err := ParseIdentity(t.in.Headers, t.p)
	switch {
	case err != nil:
		return identityInvalid(err)
	case !id.Present():
		return allowed(ReasonPassThrough, "")
	}
	prof, err := t.lookupProfile(ctx, id.Email)
	switch {
	case errors.Is(err, ErrNotFound):
		if !t.p.AutoRegister && t.p.OnUnknownIdentity == UnknownDeny {
			if err := t.presentedBinding(ctx); err != nil {
				return failed(err)
			}
			return t.flushThen(ReasonIdentityUnknown, true)
		}
		return allowed(ReasonPassThrough, "")
	case err != nil:
		return failed(err)
	}
	if r, barred := profileDenied(prof); barred {
		if err := t.presentedBinding(ctx); err != nil {
			return failed(err)
		}
		return t.flushDeny(r)
	}
	return allowed(ReasonPassThrough, "")
}

// presentedBinding reads what a flush of the pass-through rows would touch:
// the presented service cookie and the session it names, so that another
// app's binding of the same person is left alone (keepsBinding).
func (t *turn) presentedBinding(ctx context.Context) error {
	t.readServiceCookie()
	return t.loadSession(ctx)
}
