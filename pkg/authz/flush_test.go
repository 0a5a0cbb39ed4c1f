package authz_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// withNatives configures an app shaped like Penpot: a native cookie and a
// programmatic credential.
func withNatives(p *authz.Policy) {
	p.NativeCookies = []authz.NativeCookie{
		{Name: "auth-token", Domain: "design.example.com", Path: "/"},
		{Name: "csrf", Path: "/api"},
	}
}

func navigation(lines ...string) authz.Input {
	in := req(append([]string{"accept: text/html,application/xhtml+xml"}, lines...)...)
	in.Path = "/workspace?id=1"
	return in
}

// browser replays Set-Cookie lines onto a jar the way a browser would for
// one host: an expiry removes the cookie, a value sets it. Attributes other
// than Max-Age are ignored unless broken is set for a name (the browser then
// refuses its expiry, as it does when Domain or Path do not match).
type browser struct {
	jar    map[string]string
	order  []string
	broken map[string]bool
}

func newBrowser() *browser { return &browser{jar: map[string]string{}, broken: map[string]bool{}} }

func (b *browser) set(name, value string) {
	if _, ok := b.jar[name]; !ok {
		b.order = append(b.order, name)
	}
	b.jar[name] = value
}

func (b *browser) apply(setCookies []string) {
	for _, sc := range setCookies {
		nv, attrs, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(nv, "=")
		if strings.Contains(attrs, "Max-Age=0") {
			if !b.broken[name] {
				delete(b.jar, name)
				b.order = slices.DeleteFunc(b.order, func(n string) bool { return n == name })
			}
			continue
		}
		b.set(name, value)
	}
}

func (b *browser) cookieLine() string {
	var parts []string
	for _, n := range b.order {
		parts = append(parts, n+"="+b.jar[n])
	}
	return "cookie: " + strings.Join(parts, "; ")
}

func (b *browser) request(lines ...string) authz.Input {
	if len(b.jar) > 0 {
		lines = append(lines, b.cookieLine())
	}
	return navigation(lines...)
}

func TestFlushRedirectOnIdentityChange(t *testing.T) {
	h := newHarness(t, withNatives)
	br := newBrowser()
	br.set("extauthz_session", string(h.bind(1, alice)))
	br.set("auth-token", "alice-app-session")
	br.set("csrf", "x")
	br.set("theme", "dark")

	d := h.decide(br.request(email("bob@example.com")))
	if d.Allow || d.Status != 302 || d.Reason != authz.ReasonIdentityChanged {
		t.Fatalf("got %v %d %s", d.Allow, d.Status, d.Reason)
	}
	if loc, _ := d.ResponseHeader("location"); loc != "/workspace?id=1" {
		t.Errorf("location = %q", loc)
	}
	if v, _ := d.ResponseHeader("clear-site-data"); v != `"cache", "storage"` {
		t.Errorf("clear-site-data = %q (never \"cookies\")", v)
	}
	want := []string{
		"auth-token=; Path=/; Domain=design.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
		"csrf=; Path=/api; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
	}
	for _, w := range want {
		if !slices.Contains(d.SetCookies, w) {
			t.Errorf("missing %q in %v", w, d.SetCookies)
		}
	}
	if expired(d, "theme") {
		t.Error("flushed a cookie that is not the app's session")
	}
	if h.sessions.Has(testToken(1).Hash()) {
		t.Error("previous person's row survived")
	}
	br.apply(d.SetCookies)

	// The next request arrives clean and is steady state as Bob.
	d = h.decide(br.request(email("bob@example.com")))
	if !d.Allow || d.Reason != authz.ReasonSessionMatch || d.ProfileID != "p-bob" || len(d.SetCookies) != 0 {
		t.Fatalf("after the hop: %v %s %s %v", d.Allow, d.Reason, d.ProfileID, d.SetCookies)
	}
	// The app now sets its own cookie for Bob; that is never flushed again.
	br.set("auth-token", "bob-app-session")
	d = h.decide(br.request(email("bob@example.com")))
	if !d.Allow || d.Reason != authz.ReasonSessionMatch || len(d.SetCookies) != 0 {
		t.Fatalf("steady with the app's new cookie: %v %s %v", d.Allow, d.Reason, d.SetCookies)
	}
	if c, _ := d.Upstream("cookie"); c != "auth-token=bob-app-session; csrf=x; theme=dark" && c != "theme=dark; auth-token=bob-app-session" {
		// only the service cookie is stripped in the steady state
		if strings.Contains(c, "extauthz_session") || !strings.Contains(c, "auth-token=bob-app-session") {
			t.Errorf("upstream cookie = %q", c)
		}
	}
}

func TestFlushAPIAndWebSocketGet401JSON(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
	}{
		{"xhr", []string{"accept: application/json"}},
		{"websocket", []string{"accept: text/html", "upgrade: websocket", "connection: Upgrade"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withNatives)
			in := req(append(tc.lines, email("bob@example.com"),
				"cookie: auth-token=alice; "+strings.TrimPrefix(sessCookie(h.bind(1, alice)), "cookie: "))...)
			d := h.decide(in)
			if d.Allow || d.Status != 401 || d.Body != `{"error":"identity_changed"}` {
				t.Fatalf("got %v %d %q", d.Allow, d.Status, d.Body)
			}
			if !expired(d, "auth-token") {
				t.Errorf("native cookie not expired: %v", d.SetCookies)
			}
			if _, ok := issued(d); !ok {
				t.Errorf("re-key cookie missing: %v", d.SetCookies)
			}
		})
	}
}

func TestFlushInlineAllowsAndStripsUpstream(t *testing.T) {
	h := newHarness(t, withNatives, func(p *authz.Policy) { p.FlushMode = authz.FlushInline })
	d := h.decide(req(email("bob@example.com"), "cookie: theme=dark; auth-token=alice; "+strings.TrimPrefix(sessCookie(h.bind(1, alice)), "cookie: ")))
	if !d.Allow || d.Reason != authz.ReasonIdentityChanged || d.ProfileID != "p-bob" {
		t.Fatalf("got %v %s %s", d.Allow, d.Reason, d.ProfileID)
	}
	if c, _ := d.Upstream("cookie"); c != "theme=dark" {
		t.Errorf("upstream cookie = %q, want only theme", c)
	}
	if !expired(d, "auth-token") {
		t.Errorf("native not expired: %v", d.SetCookies)
	}
}

func TestFirstBindingWithNativeCookiesFlushes(t *testing.T) {
	h := newHarness(t, withNatives)
	d := h.decide(navigation(email("bob@example.com"), "cookie: auth-token=whoever"))
	if d.Allow || d.Status != 302 || d.Reason != authz.ReasonRekey || !expired(d, "auth-token") {
		t.Fatalf("got %v %d %s %v", d.Allow, d.Status, d.Reason, d.SetCookies)
	}
}

func TestSteadyStateNeverFlushesNatives(t *testing.T) {
	h := newHarness(t, withNatives)
	h.now = t0
	tok := h.bind(1, bob)
	h.now = t0.Add(time.Minute)
	d := h.decide(navigation(email("bob@example.com"), "cookie: auth-token=bob; extauthz_session="+string(tok)))
	if !d.Allow || d.Reason != authz.ReasonSessionMatch || len(d.SetCookies) != 0 {
		t.Fatalf("got %v %s %v", d.Allow, d.Reason, d.SetCookies)
	}
}

func TestLoopGuardNamesTheCookieThatStays(t *testing.T) {
	h := newHarness(t, withNatives)
	br := newBrowser()
	br.broken["auth-token"] = true // Domain in the config does not match the app's cookie
	br.set("extauthz_session", string(h.bind(1, alice)))
	br.set("auth-token", "alice")

	d := h.decide(br.request(email("bob@example.com")))
	if d.Status != 302 {
		t.Fatalf("first flush: %d %s", d.Status, d.Reason)
	}
	br.apply(d.SetCookies)
	d = h.decide(br.request(email("bob@example.com")))
	if d.Status != 500 || d.Reason != authz.ReasonFlushFailed || !strings.Contains(d.Body, "auth-token") {
		t.Fatalf("second request: %d %s %q", d.Status, d.Reason, d.Body)
	}
	if !expired(d, "auth-token") {
		t.Error("the error page must send the expiry again, so a fixed config heals the browser")
	}
	// Reloading the error page, now or much later, never lets Alice's app
	// cookie through beside Bob's profile id (invariant 2).
	for _, later := range []time.Duration{0, time.Minute, 24 * time.Hour} {
		h.now = h.now.Add(later)
		d = h.decide(br.request(email("bob@example.com")))
		if d.Allow || d.Reason != authz.ReasonFlushFailed {
			t.Fatalf("reload after %v: allow=%v %s (stale app cookie reached the app)", later, d.Allow, d.Reason)
		}
	}
	// Once the cookie is gone (config fixed) and the app sets Bob's own,
	// the steady state resumes.
	br.broken["auth-token"] = false
	br.apply(d.SetCookies)
	br.set("auth-token", "bob")
	d = h.decide(br.request(email("bob@example.com")))
	if !d.Allow || d.ProfileID != "p-bob" || (d.Reason != authz.ReasonSessionMatch && d.Reason != authz.ReasonSessionRenewed) {
		t.Fatalf("after the fix: %v %s %s", d.Allow, d.Reason, d.ProfileID)
	}
}

func TestNativeCookiesWithoutBindingAreFlushedOnAnonymous(t *testing.T) {
	h := newHarness(t, withNatives)
	d := h.decide(navigation("cookie: auth-token=previous-person"))
	if d.Allow || d.Status != 302 || !expired(d, "auth-token") {
		t.Fatalf("got %v %d %s %v", d.Allow, d.Status, d.Reason, d.SetCookies)
	}
	if v, _ := d.ResponseHeader("clear-site-data"); v != `"cache", "storage"` {
		t.Errorf("clear-site-data = %q", v)
	}
	n := 0
	for _, hd := range d.ResponseHeaders {
		if hd.Name == "clear-site-data" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("clear-site-data sent %d times", n)
	}
}

func TestLoopGuardServiceCookieRefused(t *testing.T) {
	// The browser refuses the new service cookie (e.g. a Domain it may not
	// set): each request arrives with the old, deleted binding and the native
	// cookie, and would flush forever. Identical requests are also what a
	// browser sends in parallel, so they get the same hop until the count
	// of hops for that request shape passes authz.MaxHops; no clock decides.
	h := newHarness(t, withNatives)
	old := h.bind(1, alice)
	in := navigation(email("bob@example.com"), "cookie: auth-token=alice; extauthz_session="+string(old))
	assertLoopEnds(t, h, in, authz.ReasonIdentityChanged)
}

// assertLoopEnds replays in the way a browser that refuses the service
// cookie follows redirects: the same hop MaxHops times, then the 500 page
// naming the service cookie.
func assertLoopEnds(t *testing.T, h *harness, in authz.Input, hopReason authz.Reason) {
	t.Helper()
	for hop := 1; hop <= authz.MaxHops; hop++ {
		if d := h.decide(in); d.Status != 302 || d.Reason != hopReason {
			t.Fatalf("hop %d: %d %s", hop, d.Status, d.Reason)
		}
	}
	d := h.decide(in)
	if d.Status != 500 || d.Reason != authz.ReasonFlushFailed || !strings.Contains(d.Body, "extauthz_session") {
		t.Fatalf("after %d hops: %d %s %q", authz.MaxHops, d.Status, d.Reason, d.Body)
	}
}

func TestOneCookiePerHopTerminates(t *testing.T) {
	natives := []authz.NativeCookie{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	for _, mode := range []authz.FlushMode{authz.FlushRedirect, authz.FlushInline} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, func(p *authz.Policy) {
				p.NativeCookies = natives
				p.MaxSetCookies = 1
				p.FlushMode = mode
			})
			br := newBrowser()
			br.set("extauthz_session", string(h.bind(1, alice)))
			for _, n := range natives {
				br.set(n.Name, "alice")
			}
			var reasons []string
			for hop := 0; hop < 20; hop++ {
				d := h.decide(br.request(email("bob@example.com")))
				if len(d.SetCookies) > 1 {
					t.Fatalf("hop %d: %d Set-Cookie lines over a limit of 1", hop, len(d.SetCookies))
				}
				reasons = append(reasons, string(d.Reason))
				if d.Status == 500 {
					t.Fatalf("hop %d: loop guard fired on a healthy multi-hop flush: %v", hop, reasons)
				}
				br.apply(d.SetCookies)
				if d.Allow && d.Reason == authz.ReasonSessionMatch {
					if d.ProfileID != "p-bob" {
						t.Fatalf("ended as %q", d.ProfileID)
					}
					for _, n := range natives {
						if _, ok := br.jar[n.Name]; ok {
							t.Fatalf("native %s survived", n.Name)
						}
					}
					// 4 flush hops, 1 re-key, then steady: bounded by natives+2.
					if hop > len(natives)+1 {
						t.Fatalf("took %d hops: %v", hop, reasons)
					}
					return
				}
				if d.Allow && d.ProfileID != "" && d.ProfileID != "p-bob" {
					t.Fatalf("hop %d allowed as %s", hop, d.ProfileID)
				}
			}
			t.Fatalf("did not terminate: %v", reasons)
		})
	}
}

func TestBypass(t *testing.T) {
	h := newHarness(t, func(p *authz.Policy) {
		p.BypassPrefixes = []string{"/health", "/god-mode/"}
		p.OwnedHeaders = []string{"x-profile-id", "x-extauthz-user"}
	})
	for _, tc := range []struct {
		path   string
		bypass bool
	}{
		{"/health", true},
		{"/health/live?x=1", true},
		{"/healthz", false},
		{"/god-mode", true},
		{"/god-mode/settings", true},
		{"/god-mode/../api/secret", false},
		{"/god-mode/%2e%2e/api/secret", false},
		{"/god-mode%2f..%2fapi", false},
		{"/%68ealth", true},
		{"/api/../health", false}, // a dot segment: read as under /api by a server that does not resolve it
		{"/x/%zz", false},
	} {
		in := req(email("alice@example.com"), "x-profile-id: spoofed", "x-extauthz-user: spoofed")
		in.Path = tc.path
		h.sessions.Calls = nil
		d := h.decide(in)
		got := d.Reason == authz.ReasonBypass
		if got != tc.bypass {
			t.Errorf("%s: bypass=%v, want %v (%s)", tc.path, got, tc.bypass, d.Reason)
		}
		if got {
			if !slices.Contains(d.UpstreamRemove, "x-profile-id") || !slices.Contains(d.UpstreamRemove, "x-extauthz-user") {
				t.Errorf("%s: bypass must still strip owned headers: %v", tc.path, d.UpstreamRemove)
			}
			if len(d.SetCookies) > 0 || len(h.sessions.Calls) > 0 {
				t.Errorf("%s: bypass did session work", tc.path)
			}
		}
	}
}

func TestProgrammaticCredentials(t *testing.T) {
	valid := "tok_valid"
	h := newHarness(t, withNatives, func(p *authz.Policy) {
		p.Credentials = []authz.Credential{
			{Header: "authorization", Scheme: "Token", Mode: authz.CredentialValidate},
			{Header: "x-api-key", Mode: authz.CredentialPassThrough},
		}
	})
	h.tokens.ByHash[cookie.HashString(valid)] = authz.AccessToken{ProfileID: "p-alice", Profile: alice}
	h.tokens.ByHash[cookie.HashString("tok_expired")] = authz.AccessToken{ProfileID: "p-alice", Profile: alice, ExpiresAt: t0.Add(-time.Second)}
	h.tokens.ByHash[cookie.HashString("tok_blocked")] = authz.AccessToken{ProfileID: "p-blocked", Profile: blocked}
	sess := strings.TrimPrefix(sessCookie(h.bind(1, alice)), "cookie: ")

	for _, tc := range []struct {
		name   string
		lines  []string
		status int
		reason authz.Reason
		prof   string
	}{
		{"valid token, mismatching SSO identity", []string{"authorization: Token " + valid, email("bob@example.com")}, 200, authz.ReasonAccessToken, "p-alice"},
		{"scheme is case-insensitive", []string{"authorization: token " + valid}, 200, authz.ReasonAccessToken, "p-alice"},
		{"unknown token", []string{"authorization: Token nope"}, 401, authz.ReasonAccessTokenInvalid, ""},
		{"expired token", []string{"authorization: Token tok_expired"}, 401, authz.ReasonAccessTokenInvalid, ""},
		{"token of a blocked profile", []string{"authorization: Token tok_blocked"}, 403, authz.ReasonProfileBlocked, ""},
		{"pass-through key", []string{"x-api-key: whatever", email("bob@example.com")}, 200, authz.ReasonPassThrough, ""},
		{"other scheme is not a credential", []string{"authorization: Basic Zm9v", email("alice@example.com")}, 200, authz.ReasonSessionMatch, "p-alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := req(append(tc.lines, "cookie: auth-token=alice; "+sess)...)
			d := h.decide(in)
			if d.Status != tc.status || d.Reason != tc.reason || (d.Allow && d.ProfileID != tc.prof) {
				t.Fatalf("got %d %s %q", d.Status, d.Reason, d.ProfileID)
			}
			if len(d.SetCookies) != 0 {
				t.Errorf("credential request changed cookies: %v", d.SetCookies)
			}
			if !h.sessions.Has(testToken(1).Hash()) {
				t.Error("credential request deleted the browser session")
			}
		})
	}
}

// A front end that drops an allowed check's Set-Cookie (Caddy) gets every
// session cookie on a redirect instead, and nothing that would loop.
func TestCookiesViaRedirect(t *testing.T) {
	via := func(p *authz.Policy) { p.CookiesViaRedirect = true }

	t.Run("first visit: 302 with the cookie, then steady state", func(t *testing.T) {
		h := newHarness(t, via)
		br := newBrowser()
		d := h.decide(br.request(email("alice@example.com")))
		if d.Allow || d.Status != 302 || d.Reason != authz.ReasonRekey || !strings.HasPrefix(d.SetCookies[0], "extauthz_session=v1.") {
			t.Fatalf("got %v %d %s %v", d.Allow, d.Status, d.Reason, d.SetCookies)
		}
		if _, ok := d.ResponseHeader("clear-site-data"); ok {
			t.Error("a plain re-key must not clear the app's storage")
		}
		br.apply(d.SetCookies)
		d = h.decide(br.request(email("alice@example.com")))
		if !d.Allow || d.Reason != authz.ReasonSessionMatch || len(d.SetCookies) != 0 {
			t.Fatalf("after the hop: %v %s %v", d.Allow, d.Reason, d.SetCookies)
		}
	})
	t.Run("API first visit: 401 JSON carrying the cookie", func(t *testing.T) {
		h := newHarness(t, via)
		d := h.decide(req(email("alice@example.com"), "accept: application/json"))
		if d.Allow || d.Status != 401 || d.Body != `{"error":"rekey"}` {
			t.Fatalf("got %v %d %q", d.Allow, d.Status, d.Body)
		}
		if _, ok := issued(d); !ok {
			t.Fatalf("no cookie: %v", d.SetCookies)
		}
	})
	t.Run("renewal waits for a page load", func(t *testing.T) {
		h := newHarness(t, via)
		tok := h.bind(1, alice)
		h.now = h.now.Add(7 * time.Hour)
		d := h.decide(req(email("alice@example.com"), "accept: application/json", sessCookie(tok)))
		if !d.Allow || d.Reason != authz.ReasonSessionMatch || len(d.SetCookies) != 0 || slices.Contains(h.sessions.Calls, "renew") {
			t.Fatalf("API renewal: %v %s %v", d.Allow, d.Reason, d.SetCookies)
		}
		d = h.decide(navigation(email("alice@example.com"), sessCookie(tok)))
		if d.Allow || d.Status != 302 || d.Reason != authz.ReasonSessionRenewed {
			t.Fatalf("page-load renewal: %v %d %s", d.Allow, d.Status, d.Reason)
		}
	})
	t.Run("a dead cookie's expiry is dropped, not looped", func(t *testing.T) {
		h := newHarness(t, via)
		d := h.decide(navigation("cookie: extauthz_session=garbage"))
		if !d.Allow || d.Reason != authz.ReasonAnonymous || len(d.SetCookies) != 0 {
			t.Fatalf("got %v %s %v", d.Allow, d.Reason, d.SetCookies)
		}
	})
	t.Run("a refused cookie ends in a 500, not a redirect loop", func(t *testing.T) {
		h := newHarness(t, via)
		assertLoopEnds(t, h, navigation(email("alice@example.com")), authz.ReasonRekey)
	})
}
