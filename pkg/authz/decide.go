package authz

// The decision table, row by row. Each row function names its outcome; the
// stages it relies on live beside it: classify.go reads the request and the
// stores, apply.go performs the store writes, render.go turns the outcome
// into a Decision, flush.go and credential.go hold the flush and the
// programmatic-credential rows.

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
	sessDead                     // presented, but garbage, unknown, expired or another app's
	sessLive                     // names a live session of this app
)

// turn holds the working state of one decision.
type turn struct {
	e   *Engine
	app *App
	p   *Policy
	in  *Input
	now time.Time

	// The presented service cookie.
	presented bool           // a cookie with the service's name was sent
	tokens    []cookie.Token // the well-formed tokens among them, in order
	token     cookie.Token   // the live one, else the first ("" if none)
	hash      cookie.Hash
	state     sessionState
	sess      Session
	otherApp  bool // the token names a session of another app

	// hopKey, when set, names the request shape of a cookie-changing hop
	// for the loop guard; loopCookie is the cookie its error page names.
	hopKey     string
	loopCookie NativeCookie

	d Decision
	// stripNative lists native cookies to remove from the upstream Cookie header.
	stripNative map[string]bool
}

// decide walks the table top to bottom; the first matching row wins.
func (t *turn) decide(ctx context.Context) Decision {
	p := t.p

	// Row 0: bypass paths skip all session work.
	if Bypassed(t.in.Path, p.BypassPrefixes) {
		return t.allow(ReasonBypass, "")
	}

	// Rows 1–2: programmatic credentials are never flushed or re-keyed.
	if cred, det, ok := findCredential(t.in.Headers, p.Credentials); ok {
		return t.credential(ctx, cred, det)
	}

	// Row 3: malformed or ambiguous identity.
	id, err := ParseIdentity(t.in.Headers, p)
	if err != nil {
		return t.identityInvalid(err)
	}

	t.readServiceCookie()
	if err := t.loadSession(ctx); err != nil {
		return t.lookupFailed(err)
	}

	if !id.Present() {
		return t.missingIdentity(ctx)
	}

	// Rows 6–8: resolve the profile.
	prof, err := t.app.Profiles.LookupProfile(ctx, id.Email)
	if errors.Is(err, ErrNotFound) && p.AutoRegister {
		prof, err = t.app.Profiles.RegisterProfile(ctx, id.Email, id.Name)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		// Row 9: nobody we know. Whatever the browser was bound to is not
		// this person, so it goes.
		return t.flushThen(ctx, ReasonIdentityUnknown, p.OnUnknownIdentity == UnknownDeny)
	case err != nil:
		return t.lookupFailed(err)
	}

	// Row 10: the profile may not use anything.
	if r, denied := profileDenied(prof); denied {
		return t.flushDeny(ctx, StatusForbidden, r)
	}

	// Row 11: steady state.
	if t.state == sessLive && t.sess.ProfileID == prof.ID && id.HasKey(p.IdentityKey, t.sess.IdentityKey) {
		return t.steady(ctx, ReasonSessionMatch, prof.ID)
	}
	// Row 12: bind the browser to this person.
	return t.rekey(ctx, id, id.Key(p.IdentityKey), prof)
}

// identityInvalid decides row 3 (and a policy that cannot complete a bare
// user id).
func (t *turn) identityInvalid(err error) Decision {
	if errors.Is(err, ErrNoEmailDomain) {
		return t.deny(StatusServiceUnavailable, ReasonMisconfigured)
	}
	return t.deny(StatusBadRequest, ReasonIdentityMalformed)
}

// missingIdentity decides rows 4–5.
func (t *turn) missingIdentity(ctx context.Context) Decision {
	p := t.p
	if t.state == sessLive {
		if p.OnMissingIdentity == MissingDeny {
			return t.deny(StatusUnauthorized, ReasonIdentityMissing)
		}
		// Row 4: the session's profile must still pass row 10.
		prof, err := t.app.Profiles.LookupProfile(ctx, t.sess.Email)
		switch {
		case errors.Is(err, ErrNotFound):
			// The profile is gone: the binding is worthless.
			return t.flushThen(ctx, ReasonIdentityUnknown, false)
		case err != nil:
			return t.lookupFailed(err)
		}
		if r, denied := profileDenied(prof); denied {
			return t.flushDeny(ctx, StatusForbidden, r)
		}
		if prof.ID != t.sess.ProfileID {
			// The email now names another profile; never serve the old one.
			return t.flushThen(ctx, ReasonAnonymous, false)
		}
		return t.steady(ctx, ReasonSessionOnly, prof.ID)
	}
	// Row 5: nobody. Native cookies without a live binding belong to
	// whoever used this browser before: they go, like a dead cookie.
	if len(t.presentNatives()) > 0 {
		reason := ReasonAnonymous
		if p.OnMissingIdentity == MissingDeny {
			reason = ReasonIdentityMissing
		}
		return t.flushThen(ctx, reason, p.OnMissingIdentity == MissingDeny)
	}
	if t.presented {
		t.expireServiceCookie()
	}
	if p.OnMissingIdentity == MissingDeny {
		return t.deny(StatusUnauthorized, ReasonIdentityMissing)
	}
	return t.allow(ReasonAnonymous, "")
}

// steady decides row 11 (and the allow of row 4): allow with the session's
// profile, renewing when due. Never a Set-Cookie otherwise.
func (t *turn) steady(ctx context.Context, reason Reason, profileID string) Decision {
	p := t.p
	if p.CookiesViaRedirect && !t.e.hops.empty() {
		// The browser kept the cookie a hop gave it: hops sent to
		// browsers that present nothing of their own start counting again.
		k, _ := t.shapeKey("rekey", t.sess.IdentityKey, profileID, false)
		t.e.hops.settle(k)
	}
	if len(t.sess.Stale) > 0 {
		// This session replaced another person's binding and expired the
		// app's cookies; one of those very cookies coming back means the
		// browser refused the expiry (wrong Domain or Path in the config).
		if d, failed := t.staleNative(); failed {
			return d
		}
	}
	renewable := !p.CookiesViaRedirect || isNavigation(t.in)
	if renewable && p.RenewAfter > 0 && t.now.Sub(t.sess.RenewedAt) >= p.RenewAfter && t.renew(ctx) {
		if t.setServiceCookie(t.token) {
			t.d.Renewed = true
			if reason == ReasonSessionMatch {
				reason = ReasonSessionRenewed
			}
		}
	}
	return t.allow(reason, profileID)
}

// rekey decides row 12: a new session for this profile replaces whatever
// the browser presented; the app's native cookies go when the previous
// binding was absent or another identity.
func (t *turn) rekey(ctx context.Context, id Identity, key string, prof Profile) Decision {
	reason := ReasonRekey
	if t.state == sessLive {
		reason = ReasonIdentityChanged
	}
	natives := t.presentNatives()
	// With native cookies to expire, the new session cookie must fit in the
	// same response; if it does not, this hop only flushes and a later hop
	// re-keys.
	withSession := !t.overLimit(len(natives) + 1)
	if !withSession {
		natives = natives[:t.p.MaxSetCookies]
	}
	shape, bound := t.shapeKey("rekey", key, prof.ID, true)
	t.hopKey = shape
	if !withSession {
		t.loopCookie = natives[0]
		if d, stop := t.flushStore(ctx); stop {
			return d
		}
		t.expireNatives(natives)
		return t.hop(reason)
	}
	rec, d, failed := t.writeRekey(ctx, shape, bound, reason, id, key, prof, natives)
	if failed {
		return d
	}
	reason = rec.reason
	c := t.p.Cookie
	t.loopCookie = NativeCookie{Name: c.Name, Domain: c.Domain, Path: c.Path}
	t.d.Rekeyed = true
	if !t.setServiceCookie(rec.token) {
		return t.deny(StatusInternalServerError, ReasonMisconfigured)
	}
	if len(natives) == 0 {
		return t.allow(reason, prof.ID)
	}
	t.expireNatives(natives)
	if t.p.FlushMode == FlushInline {
		return t.allow(reason, prof.ID)
	}
	t.d.ProfileID = prof.ID
	return t.hop(reason)
}
