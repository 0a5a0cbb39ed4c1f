package authz

// Apply: the store writes a decision names. A failed write turns the
// decision into row 6 or 7 (lookupFailed), never into half of it; records
// that depend on the outcome (the loop guard's) follow a successful write.

import (
	"context"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// flushStore deletes the presented session row, if the cookie named one. A
// failure to delete stops the decision: replaying the cookie must never
// yield the old identity, so we answer 503 rather than pretend.
func (t *turn) flushStore(ctx context.Context) (Decision, bool) {
	if t.token == "" {
		return Decision{}, false
	}
	if err := t.e.sessions.DeleteSession(ctx, t.hash); err != nil {
		return t.lookupFailed(err), true
	}
	return Decision{}, false
}

// writeRekey writes the new session of a re-key, or returns the one written
// for the same request shape a moment ago on this replica: requests a
// browser sent in parallel during one identity change all get the same
// session and the same Set-Cookie. Shapes without anything of one browser's
// own (no service token, no native cookie) are never shared, so two devices
// of one person never get one token. The record is kept only once the write
// succeeded.
func (t *turn) writeRekey(ctx context.Context, shape string, bound bool, reason Reason, id Identity, key string, prof Profile, natives []NativeCookie) (*rekeyRecord, Decision, bool) {
	var claim *hopEntry
	if bound && t.p.LoopGuardWindow > 0 {
		var rec *rekeyRecord
		if rec, claim = t.e.hops.claim(ctx, shape, t.now, t.p.LoopGuardWindow); rec != nil {
			return rec, Decision{}, false
		}
	}
	var rec *rekeyRecord
	if claim != nil {
		defer func() { t.e.hops.finish(claim, rec) }()
	}
	tok, err := t.e.newToken()
	if err != nil {
		// The random source failed: a permanent failure of a dependency,
		// reported like one (row 7, lookup_error), nothing written.
		return nil, t.lookupFailed(err), true
	}
	next := Session{
		Hash:        tok.Hash(),
		ProfileID:   prof.ID,
		IdentityKey: key,
		Email:       prof.Email,
		App:         t.p.App,
		CreatedAt:   t.now,
		RenewedAt:   t.now,
		ExpiresAt:   t.now.Add(t.p.SessionMaxAge),
		Stale:       t.fingerprints(natives),
	}
	if next.Email == "" {
		next.Email = id.Email
	}
	var old cookie.Hash
	if t.token != "" && !t.otherApp { // another app's row is not ours to delete
		old = t.hash
	}
	if err := t.e.sessions.ReplaceSession(ctx, old, next); err != nil {
		return nil, t.lookupFailed(err), true
	}
	rec = &rekeyRecord{token: tok, next: next, reason: reason, at: t.now}
	return rec, Decision{}, false
}

// renew moves the live session's expiry. A failed renewal changes nothing
// (the session is still live and the next request tries again): it is the
// one write whose failure neither denies nor downgrades the decision.
func (t *turn) renew(ctx context.Context) bool {
	exp := t.now.Add(t.p.SessionMaxAge)
	return t.e.sessions.RenewSession(ctx, t.hash, t.now, exp) == nil
}

// lookupFailed maps a store failure to rows 6–7. Nothing is flushed and no
// Set-Cookie leaves, whatever was planned before the failure.
func (t *turn) lookupFailed(err error) Decision {
	t.d = Decision{}
	t.stripNative = nil
	if IsTransient(err) {
		return t.deny(StatusServiceUnavailable, ReasonLookupUnavailable)
	}
	return t.deny(StatusInternalServerError, ReasonLookupError)
}
