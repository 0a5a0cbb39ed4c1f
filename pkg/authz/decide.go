package authz

// The decision table (README, "The decision"), row by row. decide runs the
// three stages: classify (this file and the reads in classify.go) names the
// row and what must be written, apply (apply.go) writes it, render
// (render.go) answers. Each row's condition is in classify or the row
// function it calls; each answer's rendering is in render.go. The flush
// rows are in flush.go, the binding rows (adopt, rekey) in bind.go, the
// programmatic-credential rows in credential.go.

import (
	"context"
	"errors"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// sessionState is what the presented service cookie turned out to be.
type sessionState int

const (
	sessNone sessionState = iota // no service cookie presented
	sessDead                     // presented, but garbage, unknown or expired (for this app)
	sessLive                     // names a live session of this app (made or taken by it)
	// sessShared names a live session another app made in the cookie
	// scope this app shares, not yet taken by this app: the browser's
	// binding, which this app takes for the same person (adopt) and
	// leaves alone otherwise, unless the person changed.
	sessShared
)

// turn holds the working state of one decision.
type turn struct {
	e   *Engine
	app *App
	p   *Policy
	in  *Input
	now time.Time
	id  Identity // the asserted identity, once row 3 passed
	// verified is the identity token's claims (identity_jwt), once row 3
	// verified one.
	verified VerifiedIdentity

	// The presented service cookie.
	presented bool           // a cookie with the service's name was sent
	tokens    []cookie.Token // the well-formed tokens among them, in order
	token     cookie.Token   // the live one, else the first ("" if none)
	hash      cookie.Hash
	state     sessionState
	sess      Session
	otherApp  bool // the token names a session of another app (not this app's to delete)

	// The Decision being rendered (render.go).
	d Decision
	// stripNative lists native cookies to remove from the upstream Cookie header.
	stripNative map[string]bool
}

// decide decides one request: the verdict first, then its writes, then the
// answer.
func (t *turn) decide(ctx context.Context) Decision {
	v := t.classify(ctx)
	v = t.apply(ctx, v)
	return t.render(v)
}

// classify walks the table top to bottom; the first matching row wins. It
// reads the request, the session and the profile, and writes nothing.
func (t *turn) classify(ctx context.Context) verdict {
	p := t.p

	// "Log out everywhere" (logout_path) before anything else.
	if isLogoutPath(t.in, p) {
		return t.logout(ctx)
	}

	// Row 0: bypass paths skip all session work.
	if Bypassed(t.in.Path, p.BypassPrefixes) {
		return allowed(ReasonBypass, "")
	}

	// Rows 1–2: programmatic credentials are never flushed or re-keyed.
	if cred, det, ok := findCredential(t.in.Headers, p.Credentials); ok {
		return t.credential(ctx, cred, det)
	}

	// Row 3: malformed or ambiguous identity.
	id, err := ParseIdentity(t.in.Headers, p)
	if err != nil {
		return identityInvalid(err)
	}
	if p.IdentityJWT.On() {
		var v verdict
		var ok bool
		if id, v, ok = t.tokenIdentity(ctx, id); !ok {
			return v
		}
	}
	t.id = id

	t.readServiceCookie()
	if err := t.loadSession(ctx); err != nil {
		return failed(err) // rows 6–7
	}
	if t.verified.LoggedOut {
		return t.signOut(ReasonLoggedOut)
	}

	// Rows 4–5: no identity.
	if !id.Present() {
		return t.missingIdentity(ctx)
	}

	// Rows 6–8: resolve the profile.
	prof, err := t.lookupProfile(ctx, id.Email)
	if errors.Is(err, ErrNotFound) && p.AutoRegister {
		// Row 8: apply creates the profile and continues at resolved.
		return verdict{register: true}
	}
	return t.resolved(prof, err)
}

// resolved decides rows 6–7 and 9–12 once the profile lookup, or row 8's
// registration, has answered.
func (t *turn) resolved(prof Profile, err error) verdict {
	p := t.p
	switch {
	case errors.Is(err, ErrNotFound):
		// Row 9: nobody we know. Whatever the browser was bound to is not
		// this person, so it goes.
		return t.flushThen(ReasonIdentityUnknown, p.OnUnknownIdentity == UnknownDeny)
	case err != nil:
		return failed(err) // rows 6–7
	}

	// Row 10: the profile may not use anything.
	if r, barred := profileDenied(prof); barred {
		return t.flushDeny(r)
	}

	// Row 11: steady state; or the same person's binding another app in
	// this cookie scope made, with the profile id this app resolves.
	if t.sess.ProfileID == prof.ID && t.id.HasKey(p.IdentityKey, t.sess.IdentityKey) {
		switch t.state {
		case sessLive:
			return t.steady(ReasonSessionMatch, prof.ID)
		case sessShared:
			return t.adopt(prof)
		}
	}
	// Row 12: bind the browser to this person.
	return t.rekey(prof)
}

// identityInvalid decides row 3 (and a policy that cannot complete a bare
// user id).
func identityInvalid(err error) verdict {
	if errors.Is(err, ErrNoEmailDomain) {
		return unavailable(ReasonMisconfigured)
	}
	return denied(StatusBadRequest, ReasonIdentityMalformed)
}

// missingIdentity decides rows 4–5.
func (t *turn) missingIdentity(ctx context.Context) verdict {
	p := t.p
	if t.state == sessLive {
		if p.OnMissingIdentity == MissingDeny {
			return denied(StatusUnauthorized, ReasonIdentityMissing)
		}
		// Row 4: the session's profile must still pass row 10.
		prof, err := t.lookupProfile(ctx, t.sess.Email)
		switch {
		case errors.Is(err, ErrNotFound):
			// The profile is gone: the binding is worthless.
			return t.flushThen(ReasonIdentityUnknown, false)
		case err != nil:
			return failed(err)
		}
		if r, barred := profileDenied(prof); barred {
			return t.flushDeny(r)
		}
		if prof.ID != t.sess.ProfileID {
			// The email now names another profile; never serve the old one.
			return t.flushThen(ReasonAnonymous, false)
		}
		return t.steady(ReasonSessionOnly, prof.ID)
	}
	// Row 5: nobody. Native cookies without a live binding belong to
	// whoever used this browser before: they go, like a dead cookie.
	if len(t.presentNatives()) > 0 {
		reason := ReasonAnonymous
		if p.OnMissingIdentity == MissingDeny {
			reason = ReasonIdentityMissing
		}
		return t.flushThen(reason, p.OnMissingIdentity == MissingDeny)
	}
	v := allowed(ReasonAnonymous, "")
	if p.OnMissingIdentity == MissingDeny {
		v = denied(StatusUnauthorized, ReasonIdentityMissing)
	}
	v.expireService = t.presented && !t.keepsBinding() // a dead cookie is expired
	return t.deliver(v)
}

// steady decides row 11 (and the allow of row 4): allow with the session's
// profile, renewing when due. Never a Set-Cookie otherwise.
func (t *turn) steady(reason Reason, profileID string) verdict {
	p := t.p
	if len(t.sess.Stale) > 0 {
		// A cookie this session's creation expired came back: the loop
		// guard's page, the expiry sent again (see staleNative).
		if n, kept := t.staleNative(); kept {
			return verdict{answer: answerFlushFailed, reason: ReasonFlushFailed,
				expireNatives: []NativeCookie{n}, page: n, settle: p.CookiesViaRedirect}
		}
	}
	v := allowed(reason, profileID)
	// The browser kept the cookie a hop gave it: hops sent to browsers that
	// present nothing of their own start counting again.
	v.settle = p.CookiesViaRedirect
	renewable := !p.CookiesViaRedirect || isNavigation(t.in)
	if renewable && p.RenewAfter > 0 && t.now.Sub(t.sess.RenewedAt) >= p.RenewAfter {
		v.renew, v.token = true, t.token
		if reason == ReasonSessionMatch {
			v.reason = ReasonSessionRenewed
		}
	}
	return t.deliver(v)
}
