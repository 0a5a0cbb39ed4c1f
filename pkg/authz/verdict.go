package authz

// The verdict: what a decision is, as data, before anything is written or
// rendered. classify (decide.go) makes it, apply (apply.go) performs the
// writes it names, render (render.go) turns it into a Decision.

import (
	"errors"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// answer is how a verdict answers the front end.
type answer uint8

const (
	// answerAllow forwards the request upstream.
	answerAllow answer = iota
	// answerDeny is a local reply with status and a JSON body naming the
	// reason.
	answerDeny
	// answerFlushHop is a deny that carries a flush (cookie expiries,
	// Clear-Site-Data): a 302 to the same URL for a page load, a 401
	// {"error":"identity_changed"} otherwise. The next request arrives clean.
	answerFlushHop
	// answerCookieHop is a deny that carries a new or renewed session
	// cookie to a front end that drops an allowed check's Set-Cookie
	// (Policy.CookiesViaRedirect): 302 for a page load, 401 JSON naming the
	// reason otherwise.
	answerCookieHop
	// answerFlushFailed is the loop guard's 500 page naming the cookie the
	// browser keeps although it was told to drop it.
	answerFlushFailed
)

// verdict is one decision as data: the row's outcome, what must be written
// and which cookies change. Its zero value is nothing at all; the
// constructors below and the row functions fill it.
type verdict struct {
	answer     answer
	status     int // answerDeny only
	reason     Reason
	profileID  string // the profile the answer carries ("" for anonymous and most denials)
	retryAfter bool   // a 503 the caller may retry: Retry-After goes with it

	// Store writes, performed by apply in this order.
	register   bool        // row 8: create the profile, then decide rows 9–12 for it
	drop       cookie.Hash // delete this presented session row (a flush); zero: none
	newSession bool        // row 12: replace the row `replace` by `next`
	replace    cookie.Hash // the presented row a re-key deletes; zero: none
	next       Session     // the session a re-key creates (apply sets its Hash)
	share      bool        // repeats of this request shape within the window get the same session
	renew      bool        // row 11: move the live session's expiry
	bind       bool        // row 11: this app takes the presented binding of another app (BindSession)
	bindStale  []cookie.Hash
	// revokeProfile: every session of this profile goes (logout_path).
	revokeProfile string

	// location, when set, is where a hop sends a page load instead of the
	// same URL (the proxy's sign-out); detail is the deny body's
	// error_description (why a token was refused).
	location string
	detail   string

	// Cookie changes, rendered in this order: the service cookie (new,
	// renewed or expired), then the app's native cookies.
	token         cookie.Token // the service cookie to set: the renewed one, or the new one (set by apply)
	expireService bool         // expire the presented service cookie
	expireNatives []NativeCookie
	stripNatives  bool // every native cookie is stripped upstream (programmatic credentials)
	dropCookies   bool // the front end drops Set-Cookie on allows and these expiries do not matter

	// The loop guard.
	guard   string       // the request shape whose page-load hops are counted (HopLedger)
	page    NativeCookie // the cookie the flush_failed page names
	refused bool         // the page says the browser refused a cookie it was given
	settle  bool         // a live session came back: its hops are settled
	loop    bool         // set after the writes: the guard proved a loop, the hop becomes the page
}

// allowed is an allow with reason, carrying profileID.
func allowed(reason Reason, profileID string) verdict {
	return verdict{answer: answerAllow, reason: reason, profileID: profileID}
}

// denied is a deny with status and reason and nothing else.
func denied(status int, reason Reason) verdict {
	return verdict{answer: answerDeny, status: status, reason: reason}
}

// unavailable is a 503 with Retry-After.
func unavailable(reason Reason) verdict {
	return verdict{answer: answerDeny, status: StatusServiceUnavailable, reason: reason, retryAfter: true}
}

// failed is rows 6–7: a store failed. Nothing is written, flushed or set,
// whatever the row that was reached had planned. A registration refused by
// the replica's rate (ErrRateLimited) is the same but for its answer: 429
// registration_limited, never a 503, since nothing is down.
func failed(err error) verdict {
	if errors.Is(err, ErrRateLimited) {
		return verdict{answer: answerDeny, status: StatusTooManyRequests, reason: ReasonRegistrationLimited, retryAfter: true}
	}
	if IsTransient(err) {
		return unavailable(ReasonLookupUnavailable)
	}
	return denied(StatusInternalServerError, ReasonLookupError)
}

// withoutRenewal is the row 11 verdict without its renewal: what a failed
// renewal write leaves. The session is still live and the next request
// tries again.
func (v verdict) withoutRenewal() verdict {
	v.renew, v.token = false, ""
	if v.reason == ReasonSessionRenewed {
		v.reason = ReasonSessionMatch
	}
	if v.answer == answerCookieHop {
		v.answer = answerAllow // nothing left to carry
	}
	return v
}

// hops reports whether the verdict answers with a hop.
func (v verdict) hops() bool { return v.answer == answerFlushHop || v.answer == answerCookieHop }

// guardOn makes the verdict's page-load hops count for the loop guard under
// shape, naming c on the flush_failed page.
func (v *verdict) guardOn(shape string, c NativeCookie, serviceCookie string) {
	v.guard, v.page, v.refused = shape, c, c.Name == serviceCookie
}
