package authz

// The flush outcomes of rows 4, 5, 9 and 10 (see the README's "Flush").

import (
	"context"
)

// flushThen (row 9, and rows 4–5 when a binding turns out worthless) flushes
// whatever the browser presents, then allows anonymously or
// denies 401 with reason.
func (t *turn) flushThen(ctx context.Context, reason Reason, deny bool) Decision {
	natives := t.presentNatives()
	if d, stop := t.flushStore(ctx); stop {
		return d
	}
	t.expireServiceCookie()
	if deny {
		t.expireNatives(natives)
		return t.deny(StatusUnauthorized, reason)
	}
	if len(natives) > 0 {
		t.hopKey, _ = t.shapeKey("flush", "", "", true)
		t.loopCookie = natives[0]
	}
	if len(natives) > 0 && t.mustHop(natives) {
		natives = t.fit(natives)
		t.expireNatives(natives)
		return t.hop(reason)
	}
	t.expireNatives(natives)
	return t.allow(reason, "")
}

// flushDeny deletes the presented session and denies with every presented
// cookie expired (row 10 and its row 4 twin).
func (t *turn) flushDeny(ctx context.Context, status int, reason Reason) Decision {
	if d, stop := t.flushStore(ctx); stop {
		return d
	}
	t.expireServiceCookie()
	t.expireNatives(t.presentNatives())
	return t.deny(status, reason)
}
