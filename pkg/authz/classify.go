package authz

// Classification: what the request presents and what the stores say about
// it. Nothing here writes to a store.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// profileDenied reports whether a profile may not be used, and why.
func profileDenied(p Profile) (Reason, bool) {
	switch {
	case p.Blocked:
		return ReasonProfileBlocked, true
	case !p.Active || p.Deleted:
		return ReasonProfileInactive, true
	}
	return "", false
}

// errRegisteredElsewhere is the answer for a profile that another app's
// auto_register created, to an app that does not register unknowns.
var errRegisteredElsewhere = fmt.Errorf("profile auto-registered through another app: %w", ErrNotFound)

// lookupProfile resolves email through the app's profile source, as this
// app sees it. A profile another app auto-registered is nobody to an app
// that does not register unknowns itself: one app's auto_register must not
// change whom another app admits (invariant 9). An app that registers
// unknowns would create the profile anyway, so it takes it as it is; a
// profile an operator added, seeded or adopted (RegisteredBy "") is known
// to every app.
func (t *turn) lookupProfile(ctx context.Context, email string) (Profile, error) {
	prof, err := t.app.Profiles.LookupProfile(ctx, email)
	if err == nil && !t.p.AutoRegister && prof.RegisteredBy != "" && prof.RegisteredBy != t.p.App {
		return Profile{}, errRegisteredElsewhere
	}
	return prof, err
}

// maxServiceTokens bounds the service tokens of one request that are looked
// up. A browser holds more than one only when an old cookie with another
// Domain or Path survived beside the current one.
const maxServiceTokens = 4

// readServiceCookie finds the service's own cookies among those presented.
func (t *turn) readServiceCookie() {
	for _, c := range t.in.Cookies {
		if c.Name != t.p.Cookie.Name {
			continue
		}
		t.presented = true
		if tok, err := cookie.ParseToken(c.Value); err == nil && len(t.tokens) < maxServiceTokens {
			t.tokens = append(t.tokens, tok)
		}
	}
	if len(t.tokens) > 0 {
		t.token, t.hash = t.tokens[0], t.tokens[0].Hash()
	}
}

// loadSession resolves the presented tokens: the first that names a live
// session of this app is the binding, whatever dead ones come before it (a
// dead cookie the browser keeps on another Path must not hide the live one,
// or every request would re-key). Failing that, the first live session
// another app made in the cookie scope this app shares is the browser's
// binding (sessShared). A store failure is returned; tokens that resolve to
// nothing usable make the state dead.
func (t *turn) loadSession(ctx context.Context) error {
	if !t.presented {
		t.state = sessNone
		return nil
	}
	t.state = sessDead
	shared := -1
	var sharedSess Session
	for i, tok := range t.tokens {
		h := tok.Hash()
		s, err := t.e.sessions.GetSession(ctx, h)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		}
		live := s.Hash.Equal(h) && t.liveHere(s)
		if live && t.takenHere(s) {
			t.token, t.hash, t.sess, t.state = tok, h, s, sessLive
			t.otherApp = s.App != t.p.App
			return nil
		}
		if live && shared < 0 {
			shared, sharedSess = i, s
		}
		if i == 0 {
			t.otherApp = s.App != t.p.App
		}
	}
	if shared >= 0 {
		t.token, t.hash, t.sess, t.state = t.tokens[shared], t.tokens[shared].Hash(), sharedSess, sessShared
		t.otherApp = true
	}
	return nil
}

// takenHere reports whether this app made s or took it as its own.
func (t *turn) takenHere(s Session) bool {
	return s.App == t.p.App || slices.Contains(s.Apps, t.p.App)
}

// liveHere reports whether s is live for this app: live, and when another
// app made it, renewed within this app's session_max_age too (an app with
// shorter sessions does not take an older binding).
func (t *turn) liveHere(s Session) bool {
	if !s.Live(t.now) {
		return false
	}
	return s.App == t.p.App || t.now.Before(s.RenewedAt.Add(t.p.SessionMaxAge))
}

// samePerson reports whether the asserted identity is the one the presented
// binding was made for; with no identity asserted nothing says otherwise.
func (t *turn) samePerson() bool {
	return !t.id.Present() || t.id.HasKey(t.p.IdentityKey, t.sess.IdentityKey)
}

// keepsBinding reports whether a flush leaves the presented binding alone:
// it is another app's, which this app has not taken, and the person did
// not change. Denying or not knowing someone here must not log them out of
// the app that admitted them.
func (t *turn) keepsBinding() bool {
	return t.state == sessShared && t.samePerson()
}

// presentNatives returns the app's native cookies that the request carries.
func (t *turn) presentNatives() []NativeCookie {
	var out []NativeCookie
	for _, n := range t.p.NativeCookies {
		if cookie.Has(t.in.Cookies, n.Name) {
			out = append(out, n)
		}
	}
	return out
}

// overLimit reports whether n Set-Cookie lines exceed the front end's limit.
func (t *turn) overLimit(n int) bool {
	return t.p.MaxSetCookies > 0 && n > t.p.MaxSetCookies
}

// fit returns the prefix of natives whose expiry still fits in this response
// beside the `lines` Set-Cookie lines planned before them. At least one always
// fits, so every hop makes progress.
func (t *turn) fit(lines int, natives []NativeCookie) []NativeCookie {
	if t.p.MaxSetCookies <= 0 {
		return natives
	}
	room := max(t.p.MaxSetCookies-lines, 0)
	if room == 0 && lines == 0 {
		room = 1
	}
	return natives[:min(room, len(natives))]
}

// deliver decides how an allow's cookie changes reach a browser behind a
// front end that drops an allowed check's Set-Cookie
// (Policy.CookiesViaRedirect). Expiries of a binding that is already dead
// server-side are dropped; app cookies to expire travel on a flush hop (the
// app's storage goes too); a new or renewed session cookie travels on a
// cookie hop. A browser that refuses a new session cookie comes back with
// the same request shape: the hop count of that shape (see MaxHops) ends it
// on the 500 page. A renewal cannot loop: the browser still holds the live
// token, whose renewal is then not due.
func (t *turn) deliver(v verdict) verdict {
	if !t.p.CookiesViaRedirect || v.answer != answerAllow {
		return v
	}
	switch {
	case len(v.expireNatives) > 0:
		v.answer = answerFlushHop
	case v.newSession || v.renew:
		v.answer = answerCookieHop
	case v.expireService:
		v.dropCookies = true
	}
	return v
}

// shapeKey names a request shape for the loop guard: the kind of hop, the
// app, the identity and profile it is for, and what the browser presented
// of its own — the service token and the values of the app's native
// cookies. A browser that took the hop's cookies never presents the same
// shape again; one that refused them presents exactly this. bound reports
// whether the shape holds anything of one browser's own; with browser
// false the shape leaves the browser's own out.
func (t *turn) shapeKey(kind, identityKey, profileID string, browser bool) (key string, bound bool) {
	h := sha256.New()
	for _, s := range []string{kind, t.p.App, identityKey, profileID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if !browser {
		return string(h.Sum(nil)), false
	}
	if t.token != "" {
		h.Write(t.hash[:])
		bound = true
	}
	for _, fp := range t.fingerprints(t.p.NativeCookies) {
		h.Write(fp[:])
		bound = true
	}
	return string(h.Sum(nil)), bound
}

// fingerprints returns the fingerprint of every value the request carries
// for the given native cookies.
func (t *turn) fingerprints(natives []NativeCookie) []cookie.Hash {
	var out []cookie.Hash
	for _, n := range natives {
		for _, v := range cookie.Values(t.in.Cookies, n.Name) {
			out = append(out, cookie.Fingerprint(n.Name, v))
		}
	}
	return out
}

// staleNative returns a native cookie that this session's creation expired
// and that the browser still sends. The session replaced another person's
// binding and expired the app's cookies; one of those very cookies coming
// back means the browser refused the expiry (wrong Domain or Path in the
// config). The request is refused (it would reach the app as the new person
// carrying the previous person's app session) and the expiry is sent again,
// so that it takes once the configuration is fixed.
func (t *turn) staleNative() (NativeCookie, bool) {
	for _, n := range t.p.NativeCookies {
		for _, v := range cookie.Values(t.in.Cookies, n.Name) {
			fp := cookie.Fingerprint(n.Name, v)
			for _, s := range t.sess.Stale {
				if s.Equal(fp) {
					return n, true
				}
			}
		}
	}
	return NativeCookie{}, false
}

// isNavigation reports whether the request is a browser page load.
func isNavigation(in *Input) bool {
	if in.Method != "GET" && in.Method != "HEAD" {
		return false
	}
	for _, v := range in.Headers.Get("upgrade") {
		if strings.EqualFold(strings.TrimSpace(v), "websocket") {
			return false
		}
	}
	for _, v := range in.Headers.Get("sec-fetch-mode") {
		if strings.TrimSpace(v) == "navigate" {
			return true
		}
	}
	for _, v := range in.Headers.Get("accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}
