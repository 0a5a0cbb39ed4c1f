package oidc

import (
	"context"
	"errors"
	"fmt"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Identity is an app's authz.IdentityVerifier: a Verifier's answer, with
// the Ledger saying whether the token's session was logged out.
type Identity struct {
	Verifier *Verifier
	Ledger   *Ledger // nil: no logouts
}

var _ authz.IdentityVerifier = Identity{}

// VerifyIdentity implements authz.IdentityVerifier: ErrInvalid becomes
// authz.ErrTokenInvalid, ErrUnavailable authz.ErrUnavailable.
func (i Identity) VerifyIdentity(ctx context.Context, raw string) (authz.VerifiedIdentity, error) {
	c, err := i.Verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, ErrUnavailable):
		return authz.VerifiedIdentity{}, fmt.Errorf("%w: %w", authz.ErrUnavailable, err)
	case err != nil:
		return authz.VerifiedIdentity{}, fmt.Errorf("%w: %s", authz.ErrTokenInvalid, reason(err))
	}
	vi := authz.VerifiedIdentity{Issuer: c.Issuer, Subject: c.Subject, SID: c.SID, Email: c.Email, IssuedAt: c.IssuedAt}
	if i.Ledger != nil {
		vi.LoggedOut = i.Ledger.LoggedOut(c.Issuer, c.Subject, c.SID, c.IssuedAt)
	}
	return vi, nil
}

// reason is err's message without the "token invalid: " prefix.
func reason(err error) string {
	s := err.Error()
	if p := ErrInvalid.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
