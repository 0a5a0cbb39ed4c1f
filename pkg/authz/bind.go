package authz

// The binding outcomes of rows 11 and 12: the browser takes another app's
// binding for the same person (adopt), or is bound to a new session
// (rekey). decide.go names when each applies.

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
		Issuer:      t.verified.Issuer,
		Subject:     t.verified.Subject,
		SID:         t.verified.SID,
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
