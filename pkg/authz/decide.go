package authz

// The decision table (README, "The decision"), row by row. decide runs the
// three stages: classify (this file and the reads in classify.go) names the
// row and what must be written, apply (apply.go) writes it, render
// (render.go) answers. Each row's condition is in classify or the row
// function it calls; each answer's rendering is in render.go. The flush
// rows are in flush.go, the programmatic-credential rows in credential.go.

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
	t.id = id

	t.readServiceCookie()
	if err := t.loadSession(ctx); err != nil {
		return failed(err) // rows 6–7
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

// adopt decides row 11 for a binding another app made in this cookie scope
// for the same person, with the profile id this app resolves: the browser
// keeps its token, which this app takes as its own too (no re-key, no new
// session row). The app's native cookies the browser holds were not set
// under this binding, so they go (the flush of row 12 for an absent
// binding), once; their fingerprints join the session's, so a browser that
// keeps one gets the loop guard's page instead of the app.
func (t *turn) adopt(prof Profile) verdict {
	p := t.p
	natives := t.presentNatives()
	var shape string
	if len(natives) > 0 {
		shape, _ = t.shapeKey("adopt", t.sess.IdentityKey, prof.ID, true)
	}
	if t.overLimit(len(natives)) {
		// Not every expiry fits: this hop flushes, a later one takes it.
		v := verdict{answer: answerFlushHop, reason: ReasonRekey, expireNatives: natives[:p.MaxSetCookies]}
		v.guardOn(shape, natives[0], p.Cookie.Name)
		return v
	}
	v := allowed(ReasonSessionMatch, prof.ID)
	v.bind, v.bindStale = true, t.fingerprints(natives)
	if len(natives) == 0 {
		return t.deliver(v)
	}
	v.reason, v.expireNatives = ReasonRekey, natives
	v.guardOn(shape, natives[0], p.Cookie.Name)
	if p.FlushMode != FlushInline {
		v.answer = answerFlushHop
		return v
	}
	return t.deliver(v)
}

// rekey decides row 12: a new session for this profile replaces whatever
// the browser presented; the app's native cookies go when the previous
// binding was absent or another identity.
func (t *turn) rekey(prof Profile) verdict {
	p := t.p
	v := verdict{reason: ReasonRekey}
	if t.state == sessLive || t.state == sessShared && !t.samePerson() {
		v.reason = ReasonIdentityChanged
	}
	key := t.id.Key(p.IdentityKey)
	natives := t.presentNatives()
	shape, bound := t.shapeKey("rekey", key, prof.ID, true)
	if t.overLimit(len(natives) + 1) {
		// The new session cookie does not fit beside the native cookies to
		// expire: this hop only flushes, and a later hop re-keys.
		natives = natives[:p.MaxSetCookies]
		v.answer, v.drop, v.expireNatives = answerFlushHop, t.hash, natives
		v.guardOn(shape, natives[0], p.Cookie.Name)
		return v
	}
	v.newSession, v.share, v.profileID = true, bound && p.LoopGuardWindow > 0, prof.ID
	v.next = Session{
		ProfileID:   prof.ID,
		IdentityKey: key,
		Email:       prof.Email,
		App:         p.App,
		CreatedAt:   t.now,
		RenewedAt:   t.now,
		ExpiresAt:   t.now.Add(p.SessionMaxAge),
		Stale:       t.fingerprints(natives),
	}
	if v.next.Email == "" {
		v.next.Email = t.id.Email
	}
	if t.token != "" && (!t.otherApp || v.reason == ReasonIdentityChanged) {
		// Another app's row is not ours to delete, unless the person
		// changed: then whoever was bound must not survive (invariant 4).
		v.replace = t.hash
	}
	c := p.Cookie
	v.guardOn(shape, NativeCookie{Name: c.Name, Domain: c.Domain, Path: c.Path}, c.Name)
	v.expireNatives = natives
	if len(natives) > 0 && p.FlushMode != FlushInline {
		v.answer = answerFlushHop
		return v
	}
	return t.deliver(v)
}
