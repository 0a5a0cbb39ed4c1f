package authz

// Apply: the store writes a verdict names. A failed write turns the verdict
// into row 6 or 7 (failed), never into half of it; records that depend on
// the outcome (the loop guard's) follow the writes, once they succeeded.

import (
	"context"
	"errors"
)

// apply performs v's writes and records their outcome, and returns the
// verdict to render.
func (t *turn) apply(ctx context.Context, v verdict) verdict {
	if v.register {
		// Row 8: create the profile (idempotent under concurrent first
		// requests), then continue at rows 9–12 with what the store says.
		v = t.resolved(t.app.Profiles.RegisterProfile(ctx, t.id.Email, t.id.Name, t.p.App))
	}
	if !v.drop.IsZero() {
		// Replaying the cookie must never yield the old identity: a flush
		// whose delete fails answers 503 rather than pretend.
		if err := t.e.sessions.DeleteSession(ctx, v.drop); err != nil {
			return failed(err)
		}
	}
	if v.revokeProfile != "" {
		if err := t.revoke(ctx, v.revokeProfile); err != nil {
			return failed(err)
		}
	}
	if v.bind {
		if err := t.e.sessions.BindSession(ctx, t.hash, t.p.App, v.bindStale, t.now); err != nil {
			if errors.Is(err, ErrNotFound) {
				// Revoked or expired since it was read: the next request
				// sees that and re-keys; until then nothing changes.
				return unavailable(ReasonLookupUnavailable)
			}
			return failed(err)
		}
	}
	if v.newSession {
		var ok bool
		if v, ok = t.writeRekey(ctx, v); !ok {
			return v
		}
	}
	if v.renew && !t.renew(ctx) {
		// The one write whose failure neither denies nor downgrades: the
		// session is still live and the next request tries again.
		v = v.withoutRenewal()
	}
	t.record(&v)
	return v
}

// writeRekey writes the new session of a re-key, or takes the one written
// for the same request shape a moment ago on this replica: requests a
// browser sent in parallel during one identity change all get the same
// session and the same Set-Cookie. Shapes without anything of one browser's
// own (no service token, no native cookie) are never shared, so two devices
// of one person never get one token. The record is kept only once the write
// succeeded. On failure it returns the failure verdict and false.
func (t *turn) writeRekey(ctx context.Context, v verdict) (verdict, bool) {
	var claim *hopEntry
	if v.share {
		var rec *rekeyRecord
		if rec, claim = t.e.hops.claim(ctx, v.guard, t.now, t.p.LoopGuardWindow); rec != nil {
			v.token, v.reason = rec.token, rec.reason
			return v, true
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
		return failed(err), false
	}
	next := v.next
	next.Hash = tok.Hash()
	if err := t.e.sessions.ReplaceSession(ctx, v.replace, next); err != nil {
		return failed(err), false
	}
	rec = &rekeyRecord{token: tok, next: next, reason: v.reason, at: t.now}
	v.token = tok
	return v, true
}

// renew moves the live session's expiry; it reports success.
func (t *turn) renew(ctx context.Context) bool {
	exp := t.now.Add(t.p.SessionMaxAge)
	return t.e.sessions.RenewSession(ctx, t.hash, t.now, exp) == nil
}

// record keeps what the loop guard learns from an outcome whose writes
// succeeded. A live session that came back settles the hops of its
// identity; a page-load hop is counted for its request shape, and the hop
// after MaxHops of the same shape is proof that the browser refuses what
// the hops carry: the verdict becomes the flush_failed page.
func (t *turn) record(v *verdict) {
	if v.settle && !t.e.hops.empty() {
		k, _ := t.shapeKey("rekey", t.sess.IdentityKey, t.sess.ProfileID, false)
		t.e.hops.settle(k)
	}
	if v.guard != "" && v.hops() && isNavigation(t.in) {
		v.loop = t.e.hops.hop(v.guard) > MaxHops
	}
}
