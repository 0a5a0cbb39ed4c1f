package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/extauthz/extauthz/internal/oidctest"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/oidc"
)

// closedURL is an http URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// jwtServer runs an in-memory server whose apps take their identity from
// idp's tokens (require: true); app "down" trusts an issuer whose keys
// cannot be fetched. It returns the HTTP check base URL.
func jwtServer(t *testing.T, idp *oidctest.Issuer) (*Server, string) {
	t.Helper()
	cfg := testConfig()
	cfg.CheckAddr = "127.0.0.1:0"
	cfg.SeedProfiles = []config.SeedProfile{{Email: "alice@example.com", Active: true}}
	cfg.Defaults.IdentityJWT.Issuer = idp.URL
	cfg.Defaults.IdentityJWT.Audiences = []string{"proxy"}
	cfg.Defaults.IdentityJWT.Require = true
	cfg.Defaults.SignOutURL = "/oauth2/sign_out"
	cfg.Defaults.LogoutPath = "/.extauthz/logout"
	down := closedURL(t)
	cfg.Apps["down"] = config.App{AppOverrides: config.AppOverrides{IdentityJWT: &config.IdentityJWTOverride{Issuer: &down}}}
	cfg.Apps["wiki"] = config.App{NativeCookies: []config.NativeCookie{{Name: "wiki_session"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg, nil)
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, "http://" + addrs.Check
}

type checked struct {
	code int
	h    http.Header
	body string
}

// forwardCheck asks /check/<app> the way Traefik's ForwardAuth does.
func forwardCheck(t *testing.T, base, app, uri string, h map[string]string) checked {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/check/"+app, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Uri", uri)
	req.Header.Set("X-Forwarded-Host", "app.example.com")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("Accept", "text/html")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return checked{resp.StatusCode, resp.Header, string(b)}
}

func sessionOf(c checked) string {
	for _, sc := range c.h.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(sc, "extauthz_session="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

// The HTTP check decides on identity_jwt like the gRPC one: a token is
// the identity, a bad one is a 401 that says why, a plain header alone is
// nobody, keys that cannot be fetched are a 503 with nothing flushed.
func TestHTTPCheckIdentityJWT(t *testing.T) {
	idp := oidctest.New(t)
	_, base := jwtServer(t, idp)
	tok := idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "sid-1")

	c := forwardCheck(t, base, "wiki", "/", map[string]string{"Authorization": "Bearer " + tok})
	if c.code != 200 || c.h.Get("X-Profile-Id") == "" || sessionOf(c) == "" {
		t.Fatalf("valid token: %d %s", c.code, c.h.Get("X-Extauthz-Reason"))
	}
	c = forwardCheck(t, base, "wiki", "/", map[string]string{"Authorization": "Bearer " + tok + "x"})
	var body struct{ Error, Error_description string }
	_ = json.Unmarshal([]byte(c.body), &body)
	if c.code != 401 || body.Error != "identity_invalid" || !strings.Contains(body.Error_description, "signature") {
		t.Fatalf("bad signature: %d %s", c.code, c.body)
	}
	c = forwardCheck(t, base, "wiki", "/", map[string]string{"X-Auth-Request-Email": "alice@example.com"})
	if c.code != 200 || c.h.Get("X-Profile-Id") != "" || c.h.Get("X-Extauthz-Reason") != "anonymous" {
		t.Fatalf("spoofed plain header: %d %s %q", c.code, c.h.Get("X-Extauthz-Reason"), c.h.Get("X-Profile-Id"))
	}
	c = forwardCheck(t, base, "wiki", "/", map[string]string{"Authorization": "Bearer " + tok, "X-Auth-Request-Email": "bob@example.com"})
	if c.code != 400 || c.h.Get("X-Extauthz-Reason") != "identity_malformed" {
		t.Fatalf("disagreeing plain header: %d %s", c.code, c.h.Get("X-Extauthz-Reason"))
	}
	c = forwardCheck(t, base, "down", "/", map[string]string{"Authorization": "Bearer " + tok, "Cookie": "extauthz_session=x"})
	if c.code != 503 || c.h.Get("X-Extauthz-Reason") != "lookup_unavailable" || len(c.h.Values("Set-Cookie")) != 0 {
		t.Fatalf("keys unreachable: %d %s %v", c.code, c.h.Get("X-Extauthz-Reason"), c.h.Values("Set-Cookie"))
	}
}

func postForm(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The endpoint's own rules, over HTTP; the token rules of §2.6 are
// pkg/oidc's TestVerifyLogout.
func TestBackchannelEndpoint(t *testing.T) {
	idp := oidctest.New(t)
	s, base := jwtServer(t, idp)
	ep := base + oidc.BackchannelPath
	form := func(tok string) string { return url.Values{"logout_token": {tok}}.Encode() }
	good := idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-1"))
	if code := get(t, ep, nil); code != 405 {
		t.Errorf("GET: %d, want 405", code)
	}
	cases := []struct {
		name, ctype, body string
		code              int
		desc              string
	}{
		{"not a form", "application/json", `{"logout_token":"x"}`, 400, "x-www-form-urlencoded"},
		{"no token", "application/x-www-form-urlencoded", "a=b", 400, "one logout_token"},
		{"two tokens", "application/x-www-form-urlencoded", form(good) + "&" + form(good), 400, "one logout_token"},
		{"an ID token", "application/x-www-form-urlencoded", form(idp.IDToken(t, "proxy", "a@example.com", "s", "x")), 400, "jti"},
		{"unknown issuer", "application/x-www-form-urlencoded",
			form(idp.Sign(t, oidctest.LogoutClaims("https://evil.example", "proxy", "s", "", "j"))), 400, "not configured"},
		{"valid", "application/x-www-form-urlencoded", form(good), 200, ""},
		{"replayed", "application/x-www-form-urlencoded", form(good), 400, "already used"},
	}
	for _, c := range cases {
		code, body := postForm(t, ep, c.ctype, c.body)
		if code != c.code || !strings.Contains(body, c.desc) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.code, c.desc)
		}
	}
	for result, want := range map[string]float64{"ok": 1, "replay": 1, "invalid": 5, "unavailable": 0, "error": 0} {
		if got := testutil.ToFloat64(s.metrics.BackchannelLogouts.WithLabelValues(result)); got != want {
			t.Errorf("extauthz_backchannel_logouts_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// Keys that cannot be fetched are a 503: the issuer may send again.
func TestBackchannelKeysUnavailable(t *testing.T) {
	idp := oidctest.New(t)
	s, base := jwtServer(t, idp)
	var down string
	for _, v := range s.identity.logout {
		if v.Issuer() != idp.URL {
			down = v.Issuer()
		}
	}
	tok := idp.Sign(t, oidctest.LogoutClaims(down, "proxy", "sub-alice", "", "j-1"))
	code, body := postForm(t, base+oidc.BackchannelPath, "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode())
	if code != 503 || !strings.Contains(body, "temporarily_unavailable") {
		t.Fatalf("keys down: %d %s", code, body)
	}
}

// A logged-out token is sent to the proxy's sign-out with the app's
// cookies expired; the logout path revokes every session of the person.
func TestLoggedOutAndLogoutPath(t *testing.T) {
	idp := oidctest.New(t)
	_, base := jwtServer(t, idp)
	tok := idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "sid-1")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	first := forwardCheck(t, base, "wiki", "/", auth)
	other := forwardCheck(t, base, "default", "/", auth)
	if sessionOf(first) == "" || sessionOf(other) == "" {
		t.Fatal("no sessions")
	}
	// Log out everywhere from the wiki.
	c := forwardCheck(t, base, "wiki", "/.extauthz/logout", map[string]string{"Authorization": "Bearer " + tok,
		"Cookie": "extauthz_session=" + sessionOf(first) + "; wiki_session=w"})
	if c.code != 302 || !strings.HasSuffix(c.h.Get("Location"), "/oauth2/sign_out?rd=%2F") || c.h.Get("X-Extauthz-Reason") != "logout" {
		t.Fatalf("logout path: %d %q %s", c.code, c.h.Get("Location"), c.h.Get("X-Extauthz-Reason"))
	}
	cookies := strings.Join(c.h.Values("Set-Cookie"), "\n")
	if !strings.Contains(cookies, "extauthz_session=;") || !strings.Contains(cookies, "wiki_session=;") {
		t.Fatalf("logout path cookies: %s", cookies)
	}
	// The other app's binding is gone: it re-keys (and would flush its own natives).
	c = forwardCheck(t, base, "default", "/", map[string]string{"Authorization": "Bearer " + tok, "Cookie": "extauthz_session=" + sessionOf(other)})
	if c.h.Get("X-Extauthz-Reason") != "rekey" {
		t.Fatalf("other app after logout path: %d %s", c.code, c.h.Get("X-Extauthz-Reason"))
	}
	// Back-channel logout of sid-1: the token now leads to the sign-out.
	code, body := oidctest.PostLogout(t, base, idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-1")))
	if code != 200 {
		t.Fatalf("logout: %d %s", code, body)
	}
	c = forwardCheck(t, base, "wiki", "/docs?p=1", map[string]string{"Authorization": "Bearer " + tok, "Cookie": "wiki_session=w"})
	if c.code != 302 || !strings.HasSuffix(c.h.Get("Location"), "/oauth2/sign_out?rd=%2Fdocs%3Fp%3D1") || !strings.Contains(strings.Join(c.h.Values("Set-Cookie"), "\n"), "wiki_session=;") {
		t.Fatalf("logged-out token: %d %q %v", c.code, c.h.Get("Location"), c.h.Values("Set-Cookie"))
	}
}

// Under an app's path (/oidc/backchannel-logout/<app>) only that app's
// issuer and audiences are accepted; an app without identity_jwt has no
// such path.
func TestBackchannelUnderAppPath(t *testing.T) {
	idp := oidctest.New(t)
	_, base := jwtServer(t, idp)
	post := func(path, tok string) (int, string) {
		return postForm(t, base+path, "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode())
	}
	// App "down" trusts another issuer: idp's token is not for it.
	if code, body := post(oidc.BackchannelPath+"/down", idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-9"))); code != 400 || !strings.Contains(body, "not configured") {
		t.Errorf("another app's issuer: %d %s, want 400 not configured", code, body)
	}
	if code, body := post(oidc.BackchannelPath+"/wiki", idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-1"))); code != 200 {
		t.Errorf("wiki's own path: %d %s, want 200", code, body)
	}
	if code, _ := post(oidc.BackchannelPath+"/nope", idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-2"))); code != 404 {
		t.Errorf("an unknown app: %d, want 404", code)
	}
}
