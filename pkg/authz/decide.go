package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
		return t.flushDeny(ctx, 403, r)
	}

	// Row 11: steady state.
	if t.state == sessLive && t.sess.ProfileID == prof.ID && id.HasKey(p.IdentityKey, t.sess.IdentityKey) {
		return t.steady(ctx, ReasonSessionMatch, prof.ID)
	}
	// Row 12: bind the browser to this person.
	return t.rekey(ctx, id, id.Key(p.IdentityKey), prof)
}

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

// identityInvalid decides row 3 (and a policy that cannot complete a bare
// user id).
func (t *turn) identityInvalid(err error) Decision {
	if errors.Is(err, ErrNoEmailDomain) {
		return t.deny(503, ReasonMisconfigured)
	}
	return t.deny(400, ReasonIdentityMalformed)
}

// credential decides rows 1–2. A programmatic request skips the session
// work, so it carries no browser session upstream: the service cookie is
// stripped on every allow, and the app's native cookies are stripped here.
func (t *turn) credential(ctx context.Context, cred string, det Credential) Decision {
	t.stripNative = make(map[string]bool, len(t.p.NativeCookies))
	for _, n := range t.p.NativeCookies {
		t.stripNative[n.Name] = true
	}
	if det.Mode == CredentialPassThrough {
		return t.passThrough(ctx)
	}
	if t.e.tokens == nil || len(cred) > maxCredentialLen {
		return t.deny(401, ReasonAccessTokenInvalid)
	}
	tok, err := t.e.tokens.LookupAccessToken(ctx, cookie.HashString(cred))
	switch {
	case errors.Is(err, ErrNotFound):
		return t.deny(401, ReasonAccessTokenInvalid)
	case err != nil:
		return t.lookupFailed(err)
	case !tok.Valid(t.now):
		return t.deny(401, ReasonAccessTokenInvalid)
	}
	if r, denied := profileDenied(tok.Profile); denied {
		return t.deny(403, r)
	}
	return t.allow(ReasonAccessToken, tok.ProfileID)
}

// maxServiceTokens bounds the service tokens of one request that are looked
// up. A browser holds more than one only when an old cookie with another
// Domain or Path survived beside the current one.
const maxServiceTokens = 4

// passThrough decides row 1 for a credential the app validates. It skips
// the session work, not the person: when the proxy also asserts an
// identity, row 3 (malformed), row 9 under on_unknown_identity: deny, and
// row 10 (blocked, inactive) apply as for a browser, flush included. An
// unknown person otherwise passes (the app judges its credential), without
// a profile id and without registering anybody.
func (t *turn) passThrough(ctx context.Context) Decision {
	id, err := ParseIdentity(t.in.Headers, t.p)
	switch {
	case err != nil:
		return t.identityInvalid(err)
	case !id.Present():
		return t.allow(ReasonPassThrough, "")
	}
	prof, err := t.app.Profiles.LookupProfile(ctx, id.Email)
	switch {
	case errors.Is(err, ErrNotFound):
		if !t.p.AutoRegister && t.p.OnUnknownIdentity == UnknownDeny {
			t.readServiceCookie()
			return t.flushThen(ctx, ReasonIdentityUnknown, true)
		}
		return t.allow(ReasonPassThrough, "")
	case err != nil:
		return t.lookupFailed(err)
	}
	if r, denied := profileDenied(prof); denied {
		t.readServiceCookie()
		return t.flushDeny(ctx, 403, r)
	}
	return t.allow(ReasonPassThrough, "")
}

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
// or every request would re-key). A store failure is returned; tokens that
// resolve to nothing usable make the state dead.
func (t *turn) loadSession(ctx context.Context) error {
	if !t.presented {
		t.state = sessNone
		return nil
	}
	t.state = sessDead
	for i, tok := range t.tokens {
		h := tok.Hash()
		s, err := t.e.sessions.GetSession(ctx, h)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		}
		if s.Hash.Equal(h) && s.Live(t.now) && s.App == t.p.App {
			t.token, t.hash, t.sess, t.state = tok, h, s, sessLive
			return nil
		}
		if i == 0 {
			t.otherApp = s.App != t.p.App
		}
	}
	return nil
}

// missingIdentity decides rows 4–5.
func (t *turn) missingIdentity(ctx context.Context) Decision {
	p := t.p
	if t.state == sessLive {
		if p.OnMissingIdentity == MissingDeny {
			return t.deny(401, ReasonIdentityMissing)
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
			return t.flushDeny(ctx, 403, r)
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
		return t.deny(401, ReasonIdentityMissing)
	}
	return t.allow(ReasonAnonymous, "")
}

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
		return t.deny(401, reason)
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
	if renewable && p.RenewAfter > 0 && t.now.Sub(t.sess.RenewedAt) >= p.RenewAfter {
		exp := t.now.Add(p.SessionMaxAge)
		if err := t.e.sessions.RenewSession(ctx, t.hash, t.now, exp); err == nil {
			if t.setServiceCookie(t.token) {
				t.d.Renewed = true
				if reason == ReasonSessionMatch {
					reason = ReasonSessionRenewed
				}
			}
		}
		// A failed renewal changes nothing: the session is still live and the
		// next request tries again.
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
		return t.deny(500, ReasonMisconfigured)
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
		return nil, t.deny(500, ReasonLookupError), true
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

// mustHop reports whether expiring natives
// needs a redirect hop rather than riding on an allowed response.
func (t *turn) mustHop(natives []NativeCookie) bool {
	return t.p.FlushMode == FlushRedirect || t.overLimit(len(t.d.SetCookies)+len(natives))
}

// fit returns the prefix of natives whose expiry still fits in this response
// beside the Set-Cookie lines already planned. At least one always fits, so
// every hop makes progress.
func (t *turn) fit(natives []NativeCookie) []NativeCookie {
	if t.p.MaxSetCookies <= 0 {
		return natives
	}
	room := max(t.p.MaxSetCookies-len(t.d.SetCookies), 0)
	if room == 0 && len(t.d.SetCookies) == 0 {
		room = 1
	}
	return natives[:min(room, len(natives))]
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

// staleNative reports a native cookie that this session's creation expired
// and that the browser still sends: the request is refused (it would reach
// the app as the new person carrying the previous person's app session) and
// the expiry is sent again, so that it takes once the configuration is fixed.
func (t *turn) staleNative() (Decision, bool) {
	for _, n := range t.p.NativeCookies {
		for _, v := range cookie.Values(t.in.Cookies, n.Name) {
			fp := cookie.Fingerprint(n.Name, v)
			for _, s := range t.sess.Stale {
				if s.Equal(fp) {
					t.expireNatives([]NativeCookie{n})
					return t.flushFailed(n, false), true
				}
			}
		}
	}
	return Decision{}, false
}

// flushFailed is the loop guard's page. refused says the browser did not
// keep a cookie it was given (the service's own) rather than kept one it was
// told to drop. The page carries the cookie changes planned so far, so that
// a fixed configuration heals the browser on its next request.
func (t *turn) flushFailed(n NativeCookie, refused bool) Decision {
	what := "was expired but the browser sent it again. Its Domain or Path in the extauthz app " +
		"configuration does not match the cookie the app sets."
	if refused {
		what = "was set but the browser did not keep it. Its Domain or Path in the extauthz " +
			"configuration may not be set from this host, or the browser refuses cookies."
	}
	t.d.Body = "<!doctype html><title>Sign-in cookie problem</title>" +
		"<h1>Cookie could not be cleared</h1><p>The cookie <code>" + htmlEscape(n.Name) +
		"</code> (Domain=" + htmlEscape(orDash(n.Domain)) + ", Path=" + htmlEscape(orSlash(n.Path)) +
		") " + what + "</p>\n"
	t.respond("content-type", "text/html; charset=utf-8")
	return t.deny(500, ReasonFlushFailed)
}

// hop ends a flush with a deny that carries the cookie changes: a 302 back to
// the same URL for navigations, a 401 JSON for anything else.
func (t *turn) hop(reason Reason) Decision {
	t.d.Flushed = true
	if _, ok := t.d.ResponseHeader("clear-site-data"); !ok {
		t.respond("clear-site-data", `"cache", "storage"`)
	}
	return t.redirect(reason, `{"error":"identity_changed"}`)
}

// redirect denies with the cookie changes planned so far: a 302 to the
// same URL for a page load, a 401 with body otherwise.
func (t *turn) redirect(reason Reason, body string) Decision {
	if isNavigation(t.in) {
		// A browser follows a 302 at once: the same shape coming back more
		// than MaxHops times means it keeps refusing what the hop carries.
		if t.hopKey != "" && t.e.hops.hop(t.hopKey) > MaxHops {
			return t.flushFailed(t.loopCookie, t.loopCookie.Name == t.p.Cookie.Name)
		}
		t.respond("location", sameURL(t.in.Path))
		return t.deny(302, reason)
	}
	t.d.Body = body
	t.respond("content-type", "application/json")
	return t.deny(401, reason)
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

// sameURL returns a safe relative Location for the request target.
func sameURL(raw string) string {
	if raw == "" || raw[0] != '/' || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") || !utf8.ValidString(raw) {
		return "/"
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x21 || raw[i] == 0x7f {
			return "/"
		}
	}
	return raw
}

// lookupFailed maps a store failure to rows 6–7. Nothing is flushed and no
// Set-Cookie leaves, whatever was planned before the failure.
func (t *turn) lookupFailed(err error) Decision {
	t.d = Decision{}
	t.stripNative = nil
	if IsTransient(err) {
		return t.deny(503, ReasonLookupUnavailable)
	}
	return t.deny(500, ReasonLookupError)
}

// setServiceCookie issues the service cookie for tok.
func (t *turn) setServiceCookie(tok cookie.Token) bool {
	c := t.p.Cookie
	v, err := cookie.SetCookie{
		Name: c.Name, Value: string(tok), Domain: c.Domain, Path: c.Path,
		MaxAge: t.p.SessionMaxAge, Secure: c.Secure, HttpOnly: true, SameSite: c.SameSite,
	}.String()
	if err != nil {
		return false
	}
	t.d.SetCookies = append(t.d.SetCookies, v)
	return true
}

// expireServiceCookie expires the service cookie if the browser sent one.
func (t *turn) expireServiceCookie() {
	if !t.presented {
		return
	}
	c := t.p.Cookie
	if v, err := (cookie.SetCookie{
		Name: c.Name, Domain: c.Domain, Path: c.Path, Expire: true,
		Secure: c.Secure, HttpOnly: true, SameSite: c.SameSite,
	}).String(); err == nil {
		t.d.SetCookies = append(t.d.SetCookies, v)
	}
	t.d.Flushed = true
}

// expireNatives expires each native cookie with its exact Domain and Path
// and strips it from the upstream Cookie header.
func (t *turn) expireNatives(natives []NativeCookie) {
	if len(natives) == 0 {
		return
	}
	if t.stripNative == nil {
		t.stripNative = make(map[string]bool, len(natives))
	}
	for _, n := range natives {
		if t.overLimit(len(t.d.SetCookies) + 1) {
			break
		}
		v, err := cookie.SetCookie{Name: n.Name, Domain: n.Domain, Path: n.Path, Expire: true, Secure: n.Secure}.String()
		if err != nil {
			continue
		}
		t.d.SetCookies = append(t.d.SetCookies, v)
		t.stripNative[n.Name] = true
	}
	t.d.Flushed = true
	if _, ok := t.d.ResponseHeader("clear-site-data"); !ok {
		t.respond("clear-site-data", `"cache", "storage"`)
	}
}

// respond adds a browser response header.
func (t *turn) respond(name, value string) {
	t.d.ResponseHeaders = append(t.d.ResponseHeaders, Header{Name: name, Value: value})
}

// allow finishes an allowing decision.
func (t *turn) allow(reason Reason, profileID string) Decision {
	if t.p.CookiesViaRedirect && len(t.d.SetCookies) > 0 {
		if d, hopped := t.cookiesViaRedirect(reason, profileID); hopped {
			return d
		}
	}
	t.d.Allow, t.d.Status, t.d.Reason, t.d.ProfileID = true, 200, reason, profileID
	return t.finish()
}

// cookiesViaRedirect reshapes an allow that carries Set-Cookie lines for a
// front end that drops them on allowed checks. Expiries of a binding that is
// already dead server-side are simply dropped; a new or renewed session, or
// app cookies to expire, travel on a deny hop. A browser that refuses a new
// session cookie comes back with the same request shape: the hop count of
// that shape (see MaxHops) ends it on the 500 page. A renewal cannot loop:
// the browser still holds the live token, whose renewal is then not due.
func (t *turn) cookiesViaRedirect(reason Reason, profileID string) (Decision, bool) {
	if !t.d.Rekeyed && !t.d.Renewed && len(t.stripNative) == 0 {
		t.d.SetCookies = nil
		return Decision{}, false
	}
	t.d.ProfileID = profileID
	if len(t.stripNative) > 0 {
		return t.hop(reason), true // a flush: the app's storage goes too
	}
	return t.redirect(reason, `{"error":"`+string(reason)+`"}`), true
}

// deny finishes a denying decision.
func (t *turn) deny(status int, reason Reason) Decision {
	t.d.Allow, t.d.Status, t.d.Reason = false, status, reason
	t.respond("cache-control", "no-store")
	if status == 503 {
		t.respond("retry-after", strconv.Itoa(int(max(t.p.RetryAfter, time.Second)/time.Second)))
	}
	if t.d.Body == "" && status != 302 {
		t.d.Body = `{"error":"` + string(reason) + `"}`
		t.respond("content-type", "application/json")
	}
	return t.finish()
}

// finish adds what every decision carries: owned headers stripped or set,
// the service cookie stripped from the upstream Cookie header, the reason.
func (t *turn) finish() Decision {
	p := t.p
	d := &t.d
	d.App = p.App
	if d.Allow {
		for _, h := range p.OwnedHeaders {
			if h != p.ProfileHeader {
				d.UpstreamRemove = append(d.UpstreamRemove, h)
			}
		}
		if d.ProfileID != "" {
			d.UpstreamSet = append(d.UpstreamSet, Header{Name: p.ProfileHeader, Value: d.ProfileID})
		} else if p.ProfileHeader != "" {
			d.UpstreamRemove = append(d.UpstreamRemove, p.ProfileHeader)
		}
		t.rewriteUpstreamCookies()
	}
	if p.ReasonHeader != "" {
		t.respond(p.ReasonHeader, string(d.Reason))
	}
	return *d
}

// rewriteUpstreamCookies removes the service cookie and flushed native
// cookies from the Cookie header the upstream sees. A rewritten header also
// leaves out pairs that are not valid UTF-8: front ends carry header values
// as strings, and one stray cookie must not make the whole answer fail.
func (t *turn) rewriteUpstreamCookies() {
	name := t.p.Cookie.Name
	drop := func(n string) bool { return n == name || t.stripNative[n] }
	changed := false
	for _, c := range t.in.Cookies {
		if drop(c.Name) {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	if rest := cookie.Format(t.in.Cookies, drop); rest != "" {
		t.d.UpstreamSet = append(t.d.UpstreamSet, Header{Name: "cookie", Value: rest})
	} else {
		t.d.UpstreamRemove = append(t.d.UpstreamRemove, "cookie")
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "(host only)"
	}
	return s
}

func orSlash(s string) string {
	if s == "" {
		return "/"
	}
	return s
}
