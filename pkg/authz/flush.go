package authz

// The flush outcomes of rows 4, 5, 9 and 10 (see the README's "Flush").

// flushThen (row 9, and rows 4–5 when a binding turns out worthless) flushes
// whatever the browser presents, then allows anonymously or denies 401
// with reason.
func (t *turn) flushThen(reason Reason, deny bool) verdict {
	natives := t.presentNatives()
	v := verdict{reason: reason}
	if !t.keepsBinding() {
		v.drop, v.expireService = t.hash, t.presented
	}
	if deny {
		v.answer, v.status, v.expireNatives = answerDeny, StatusUnauthorized, natives
		return v
	}
	if len(natives) == 0 {
		return t.deliver(v)
	}
	shape, _ := t.shapeKey("flush", "", "", true)
	v.guardOn(shape, natives[0], t.p.Cookie.Name)
	// The service cookie's expiry, when there is one, comes first.
	lines := 0
	if _, ok := t.serviceExpiry(); ok && v.expireService {
		lines = 1
	}
	if t.p.FlushMode == FlushRedirect || t.overLimit(lines+len(natives)) {
		v.answer, v.expireNatives = answerFlushHop, t.fit(lines, natives)
		return v
	}
	v.expireNatives = natives
	return t.deliver(v)
}

// flushDeny deletes the presented session and denies 403 with every
// presented cookie expired (row 10 and its row 4 twin). Another app's
// binding this app never took stays (keepsBinding): this app's verdict on
// the person is not that app's.
func (t *turn) flushDeny(reason Reason) verdict {
	v := denied(StatusForbidden, reason)
	v.expireNatives = t.presentNatives()
	if !t.keepsBinding() {
		v.drop, v.expireService = t.hash, t.presented
	}
	return v
}
