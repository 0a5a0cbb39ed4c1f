package authz

import (
	"context"
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
	presented bool         // a cookie with the service's name was sent
	token     cookie.Token // first well-formed token among them ("" if none)
	hash      cookie.Hash
	state     sessionState
	sess      Session
	otherApp  bool // the token names a session of another app

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
		if errors.Is(err, ErrNoEmailDomain) {
			return t.deny(503, ReasonMisconfigured)
		}
		return t.deny(400, ReasonIdentityMalformed)
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

// credential decides rows 1–2.
func (t *turn) credential(ctx context.Context, cred string, det Credential) Decision {
	if det.Mode == CredentialPassThrough {
		return t.allow(ReasonPassThrough, "")
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

// readServiceCookie finds the service's own cookie among those presented.
func (t *turn) readServiceCookie() {
	for _, c := range t.in.Cookies {
		if c.Name != t.p.Cookie.Name {
			continue
		}
		t.presented = true
		if tok, err := cookie.ParseToken(c.Value); err == nil {
			t.token, t.hash = tok, tok.Hash()
			return
		}
	}
}

// loadSession resolves the presented token. A store failure is returned; a
// token that resolves to nothing usable makes the state dead.
func (t *turn) loadSession(ctx context.Context) error {
	switch {
	case !t.presented:
		t.state = sessNone
		return nil
	case t.token == "":
		t.state = sessDead
		return nil
	}
	s, err := t.e.sessions.GetSession(ctx, t.hash)
	switch {
	case errors.Is(err, ErrNotFound):
		t.state = sessDead
		return nil
	case err != nil:
		return err
	}
	if !s.Hash.Equal(t.hash) || !s.Live(t.now) || s.App != t.p.App {
		t.state = sessDead
		t.otherApp = s.App != t.p.App
		return nil
	}
	t.sess, t.state = s, sessLive
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
	if len(natives) > 0 && t.mustHop(natives) {
		natives = t.fit(natives)
		if d, looped := t.loopCheck(t.flushKey("", natives), natives); looped {
			return d
		}
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
	if len(natives) > 0 {
		if d, looped := t.loopCheck(t.flushKey(key, natives), natives); looped {
			return d
		}
	}
	if !withSession {
		if d, stop := t.flushStore(ctx); stop {
			return d
		}
		t.expireNatives(natives)
		return t.hop(reason)
	}

	tok, err := t.e.newToken()
	if err != nil {
		return t.deny(500, ReasonLookupError)
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
	}
	if next.Email == "" {
		next.Email = id.Email
	}
	next.Stale = t.fingerprints(natives)
	var old cookie.Hash
	if t.token != "" && !t.otherApp { // another app's row is not ours to delete
		old = t.hash
	}
	if err := t.e.sessions.ReplaceSession(ctx, old, next); err != nil {
		return t.lookupFailed(err)
	}
	t.d.Rekeyed = true
	if !t.setServiceCookie(tok) {
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

// flushKey identifies one flush response for the loop guard: the same
// binding and identity getting the same cookies expired twice within the
// window means the expiry did not take. Each hop of a multi-hop flush
// expires different cookies, so hops never look like a loop.
func (t *turn) flushKey(identityKey string, natives []NativeCookie) string {
	var b strings.Builder
	b.WriteString("flush|")
	b.WriteString(t.p.App)
	b.WriteByte('|')
	if t.token != "" {
		b.WriteString(t.hash.String())
	}
	b.WriteByte('|')
	b.WriteString(identityKey)
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(len(t.d.SetCookies)))
	for _, n := range natives {
		b.WriteByte('|')
		b.WriteString(n.Name)
	}
	return b.String()
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

// loopCheck records a flush and turns a repeat into a 500 naming the cookie.
func (t *turn) loopCheck(key string, natives []NativeCookie) (Decision, bool) {
	if !t.e.guard.Seen(key, t.now, t.p.LoopGuardWindow) {
		return Decision{}, false
	}
	if len(natives) == 0 {
		c := t.p.Cookie
		return t.flushFailed(NativeCookie{Name: c.Name, Domain: c.Domain, Path: c.Path}), true
	}
	return t.flushFailed(natives[0]), true
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
					return t.flushFailed(n), true
				}
			}
		}
	}
	return Decision{}, false
}

// flushFailed is the loop guard's page.
func (t *turn) flushFailed(n NativeCookie) Decision {
	t.d.Body = "<!doctype html><title>Sign-in cookie problem</title>" +
		"<h1>Cookie could not be cleared</h1><p>The cookie <code>" + htmlEscape(n.Name) +
		"</code> (Domain=" + htmlEscape(orDash(n.Domain)) + ", Path=" + htmlEscape(orSlash(n.Path)) +
		") was expired but the browser sent it again. Its Domain or Path in the extauthz app " +
		"configuration does not match the cookie the app sets.</p>\n"
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
// app cookies to expire, travel on a deny hop. A browser that refuses the
// cookie would come back the same way: the second such hop for the same
// binding and identity within the loop-guard window is a 500 naming the
// service cookie.
func (t *turn) cookiesViaRedirect(reason Reason, profileID string) (Decision, bool) {
	if !t.d.Rekeyed && !t.d.Renewed && len(t.stripNative) == 0 {
		t.d.SetCookies = nil
		return Decision{}, false
	}
	if t.d.Rekeyed || t.d.Renewed {
		if d, looped := t.loopCheck("via-redirect|"+t.flushKey(profileID, nil), nil); looped {
			return d, true
		}
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
// cookies from the Cookie header the upstream sees. Every other pair goes
// through byte for byte (invariant 13): the header is rebuilt from the
// request's own Cookie lines, not from the parsed pairs, so commas, quotes
// and names the parser skips survive. A rewritten header leaves out pairs
// that are not valid UTF-8: front ends carry header values as strings, and
// one stray cookie must not make the whole answer fail.
func (t *turn) rewriteUpstreamCookies() {
	name := t.p.Cookie.Name
	drop := func(n string) bool { return n == name || t.stripNative[n] }
	rest, changed := cookie.Strip(t.in.Headers.Get("cookie"), drop)
	if !changed {
		return
	}
	if rest != "" {
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
