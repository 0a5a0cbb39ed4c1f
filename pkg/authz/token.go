package authz

// Identity from a verified token (identity_jwt): row 3 with a signed
// assertion in place of, or beside, the plain identity header, and the
// logged-out answer for a token whose session the issuer ended.

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
)

// ErrTokenInvalid is wrapped by an IdentityVerifier for a token that is
// not acceptable (bad signature, wrong issuer or audience, expired, a
// refused algorithm). The wrapped message says why and is shown to the
// client; it never holds the token.
var ErrTokenInvalid = errors.New("identity token invalid")

// VerifiedIdentity is what a verified identity token says.
type VerifiedIdentity struct {
	Issuer   string
	Subject  string
	SID      string // the IdP session id; "" when the token has none
	Email    string // the email claim as sent (normalised by Decide)
	IssuedAt time.Time
	// LoggedOut: the issuer ended this token's session (back-channel
	// logout of its sid, or of its subject after the token was issued).
	LoggedOut bool
}

// IdentityVerifier verifies an app's identity tokens. Implementations
// live outside this package (pkg/oidc); errors wrap ErrTokenInvalid or
// ErrUnavailable (the issuer's keys cannot be fetched and none held
// answers).
type IdentityVerifier interface {
	VerifyIdentity(ctx context.Context, raw string) (VerifiedIdentity, error)
}

// TokenPolicy is an app's identity_jwt setting, as plain data. The
// decision reads Header and Require; the App's IdentityVerifier is built
// from the rest (by the wiring, outside this package).
type TokenPolicy struct {
	// Header carries the token: "authorization" reads "Bearer <jwt>", any
	// other header the raw token.
	Header string
	// Issuer is the expected "iss"; "" turns identity_jwt off.
	Issuer    string
	Audiences []string
	JWKSURL   string // "" discovers it from the issuer
	// EmailClaim names the claim holding the email.
	EmailClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Require: without a valid token the request has no identity (rows
	// 4–5), whatever the plain identity header says.
	Require bool
}

// On reports whether identity_jwt is configured.
func (tp TokenPolicy) On() bool { return tp.Issuer != "" && tp.Header != "" }

// presentedToken returns the token the request carries in header, "" when
// none; two different tokens are ambiguous.
func presentedToken(h Headers, header string) (string, error) {
	var out string
	for _, line := range h.Get(header) {
		for part := range strings.SplitSeq(line, ",") {
			tok := strings.TrimSpace(part)
			if header == "authorization" {
				scheme, rest, ok := strings.Cut(tok, " ")
				if !ok || !strings.EqualFold(scheme, "bearer") {
					continue // another scheme is not an identity token
				}
				tok = strings.TrimSpace(rest)
			}
			if tok == "" {
				continue
			}
			if out != "" && tok != out {
				return "", ErrIdentityAmbiguous
			}
			out = tok
		}
	}
	return out, nil
}

// tokenIdentity decides row 3 for an app with identity_jwt: the identity
// is the verified token's, and plain is what the identity header says. It
// returns the identity to go on with, or a verdict and false.
func (t *turn) tokenIdentity(ctx context.Context, plain Identity) (Identity, verdict, bool) {
	p := t.p
	raw, err := presentedToken(t.in.Headers, p.IdentityJWT.Header)
	if err != nil {
		return Identity{}, denied(StatusBadRequest, ReasonIdentityMalformed), false
	}
	if raw == "" {
		if p.IdentityJWT.Require {
			return Identity{}, verdict{}, true // rows 4–5: nobody
		}
		return plain, verdict{}, true
	}
	if t.app.Identity == nil {
		return Identity{}, unavailable(ReasonMisconfigured), false
	}
	vi, err := t.app.Identity.VerifyIdentity(ctx, raw)
	switch {
	case errors.Is(err, ErrTokenInvalid):
		v := denied(StatusUnauthorized, ReasonIdentityInvalid)
		v.detail = err.Error()
		return Identity{}, v, false
	case err != nil:
		return Identity{}, failed(err), false // row 6 when the keys are unavailable
	}
	email, err := NormalizeEmail(vi.Email)
	if err != nil || email == "" {
		v := denied(StatusUnauthorized, ReasonIdentityInvalid)
		v.detail = ErrTokenInvalid.Error() + ": no usable email claim"
		return Identity{}, v, false
	}
	if plain.Email != "" && plain.Email != email {
		// The proxy's plain header names someone else than the signed
		// assertion: one of them lies.
		return Identity{}, denied(StatusBadRequest, ReasonIdentityMalformed), false
	}
	t.verified = vi
	id := Identity{Email: email, UserID: vi.Subject, Name: plain.Name}
	if id.UserID == "" {
		id.UserID = plain.UserID
	}
	return id, verdict{}, true
}

// signOut answers a request whose token's session the issuer ended: the
// presented session goes, the service cookie and the app's native cookies
// are expired, and a page load is sent to the proxy's sign-out
// (sign_out_url) so the person signs in again at the IdP. Without a
// sign-out URL it is a 401: the proxy would present the same token again.
func (t *turn) signOut(reason Reason) verdict {
	v := verdict{reason: reason, drop: t.hash, expireService: t.presented}
	if t.p.SignOutURL == "" || !isNavigation(t.in) {
		v.answer, v.status = answerDeny, StatusUnauthorized
		v.expireNatives = t.presentNatives()
		return v
	}
	v.answer = answerFlushHop
	v.location = signOutLocation(t.p.SignOutURL, t.in)
	// What does not fit goes on the way back: without a live binding the
	// app's cookies are flushed (row 5 or 12).
	v.expireNatives = t.fit(t.serviceLines(v.expireService), t.presentNatives())
	return v
}

// serviceLines is how many Set-Cookie lines the service cookie's expiry
// takes.
func (t *turn) serviceLines(expire bool) int {
	if _, ok := t.serviceExpiry(); ok && expire {
		return 1
	}
	return 0
}

// signOutLocation is sign_out_url with rd= the request's own URL, unless
// it names its own rd: relative when sign_out_url is, absolute otherwise
// (the proxy's sign-out then sends the browser back to this host).
func signOutLocation(signOut string, in *Input) string {
	u, err := url.Parse(signOut)
	if err != nil {
		return signOut
	}
	q := u.Query()
	if q.Has("rd") {
		return signOut
	}
	rd := sameURL(in.Path)
	if u.Host != "" && in.Host != "" {
		scheme := in.Scheme
		if scheme == "" {
			scheme = "https"
		}
		rd = scheme + "://" + in.Host + rd
	}
	q.Set("rd", rd)
	u.RawQuery = q.Encode()
	return u.String()
}
