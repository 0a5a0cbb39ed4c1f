package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/extauthz/extauthz/internal/oidctest"
)

// jwtConfig is extauthz's configuration for the back-channel story behind
// fe: two apps on the identity oauth2-proxy's id_token asserts
// (identity_jwt, require: true), logged-out tokens sent to oauth2-proxy's
// sign-out.
func jwtConfig(fe *frontend) func(issuer, clientID string) string {
	return func(issuer, clientID string) string {
		return fmt.Sprintf(jwtConfigFormat, fe.defaults, issuer, clientID)
	}
}

const jwtConfigFormat = `
log: {format: text, level: info}
cookie: {secure: false}
auto_register: true
%sidentity_jwt:
  issuer: %s
  audiences: [%s]
  require: true
sign_out_url: /oauth2/sign_out
logout_path: /.extauthz/logout
apps:
  demo:
    native_cookies:
      - {name: app_session, path: /}
  demo2:
    native_cookies:
      - {name: app_session, path: /}
`

// backchannelLogout is the IdP's side of OpenID Connect Back-Channel
// Logout: a logout token for sub, signed in process with the mock IdP's
// own key, posted through the edge to extauthz.
func backchannelLogout(t *testing.T, s *stack, sub string) (int, string) {
	t.Helper()
	cfg := s.IdP.Config()
	kp := s.IdP.Keypair
	kid, err := kp.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	claims := oidctest.LogoutClaims(cfg.Issuer, cfg.ClientID, sub, "", fmt.Sprintf("e2e-%d", time.Now().UnixNano()))
	tok := oidctest.Sign(t, jose.SigningKey{Algorithm: jose.RS256, Key: kp.PrivateKey}, kid, claims)
	return oidctest.PostLogout(t, s.Edge, tok)
}

// idToken is an id_token for u as the mock IdP would issue it to
// oauth2-proxy's client, signed in process with the IdP's key.
func idToken(t *testing.T, s *stack, u user) string {
	t.Helper()
	cfg := s.IdP.Config()
	kid, err := s.IdP.Keypair.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": cfg.Issuer, "aud": cfg.ClientID, "sub": u.mock().Subject, "email": u.Email,
		"email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	return oidctest.Sign(t, jose.SigningKey{Algorithm: jose.RS256, Key: s.IdP.Keypair.PrivateKey}, kid, claims)
}

// TestBackchannelLogout: alice signs in to two apps behind each front end
// and oauth2-proxy (--set-authorization-header); the IdP ends her session
// with a back-channel logout posted to the edge; her next request in
// either app ends at the sign-in page, and neither app sees her app cookie
// again.
func TestBackchannelLogout(t *testing.T) {
	forEachFrontend(t, backchannelLogoutStory)
}

func backchannelLogoutStory(t *testing.T, fe *frontend) {
	s := newStackWith(t, fe, true, stackOptions{config: jwtConfig(fe), identityJWT: true})
	edge2 := s.edgeFor(t, "demo2")
	b := s.browser(t)

	if p := page(s.signIn(b, alice)); p.Status != 200 || shown(p) != alice.Email {
		t.Fatalf("alice's first page in demo: %d %q\n%s", p.Status, shown(p), p.Body)
	}
	if p := page(b.get(edge2 + "/")); p.Status != 200 || shown(p) != alice.Email {
		t.Fatalf("alice's first page in demo2: %d %q\n%s", p.Status, shown(p), p.Body)
	}
	aliceApp := b.cookie(appCookie)
	if aliceApp == "" || b.cookie("extauthz_session") == "" {
		t.Fatalf("after signing in: app cookie %q, extauthz cookie %q", aliceApp, b.cookie("extauthz_session"))
	}
	reqs := s.App.requests()
	if r := reqs[len(reqs)-1]; r.ProfileID == "" || !strings.HasPrefix(r.Auth, "Bearer ") {
		t.Fatalf("demo2 reached without a profile id or oauth2-proxy's id_token: profile %q, Authorization %.20q", r.ProfileID, r.Auth)
	}
	// A token the client sends is replaced by oauth2-proxy's: bob's,
	// signed by the IdP, names someone else and would be a 400 (row 3).
	bobs := "Bearer " + idToken(t, s, bob)
	if p := page(b.get("/mine", "Authorization", bobs)); p.Status != 200 || shown(p) != alice.Email {
		t.Fatalf("alice with bob's token in Authorization: %d %q\n%s", p.Status, shown(p), p.Body)
	}
	if r := s.App.requests()[len(s.App.requests())-1]; r.ProfileID == "" || r.Auth == bobs {
		t.Fatalf("the client's Authorization reached the app: profile %q, its own token %v", r.ProfileID, r.Auth == bobs)
	}

	code, body := backchannelLogout(t, s, alice.mock().Subject)
	if code != http.StatusOK {
		t.Fatalf("back-channel logout: %d %s\n%s", code, body, s.Authz.Logs())
	}
	before := len(s.App.requests())
	for _, base := range []string{edge2, s.Edge} {
		hops := b.get(base + "/after-logout")
		if p := page(hops); !isSignInPage(p) {
			t.Fatalf("%s after the logout: %d:%s\n%s", base, p.Status, describe(hops), p.Body)
		}
		if base == edge2 && !signedOutThroughExtauthz(hops) {
			t.Errorf("the first request after the logout did not go through extauthz's sign-out redirect:%s", describe(hops))
		}
	}
	for i, r := range s.App.requests()[before:] {
		t.Errorf("app request %d after the logout: %+v", i, r)
	}
	if got := b.cookie(appCookie); got == aliceApp {
		t.Errorf("alice's app cookie survived the logout: %q", got)
	}
	// A replay of the IdP's request is refused and changes nothing.
	if code, _ := oidctest.PostLogout(t, s.Edge, "not-a-token"); code != http.StatusBadRequest {
		t.Errorf("garbage logout token: %d, want 400", code)
	}

	t.Run("LogOutEverywhere", func(t *testing.T) { logOutEverywhere(t, s, edge2) })
}

// logOutEverywhere: bob signs in to both apps, then follows demo's
// logout_path: he ends at the sign-in page with his app cookie expired, and
// demo2 does not see him or his app cookie again either.
func logOutEverywhere(t *testing.T, s *stack, edge2 string) {
	b := s.browser(t)
	if p := page(s.signIn(b, bob)); p.Status != 200 || shown(p) != bob.Email {
		t.Fatalf("bob's first page: %d %q\n%s", p.Status, shown(p), p.Body)
	}
	if p := page(b.get(edge2 + "/")); p.Status != 200 || shown(p) != bob.Email {
		t.Fatalf("bob in demo2: %d %q", p.Status, shown(p))
	}
	bobApp := b.cookie(appCookie)
	before := len(s.App.requests())
	hops := b.get("/.extauthz/logout")
	if p := page(hops); !isSignInPage(p) {
		t.Fatalf("logout path: %d:%s\n%s", p.Status, describe(hops), p.Body)
	}
	var viaExtauthz bool
	for _, h := range hops {
		if h.Status == 302 && h.Header.Get("X-Extauthz-Reason") == "logout" && expiry(h, appCookie) != "" {
			viaExtauthz = true
		}
	}
	if !viaExtauthz {
		t.Errorf("the logout path did not answer with extauthz's logout redirect:%s", describe(hops))
	}
	if p := page(b.get(edge2 + "/after")); !isSignInPage(p) {
		t.Fatalf("demo2 after logging out everywhere: %d %q", p.Status, shown(p))
	}
	for i, r := range s.App.requests()[before:] {
		t.Errorf("app request %d after logging out everywhere: %+v", i, r)
	}
	if got := b.cookie(appCookie); got != "" && got == bobApp {
		t.Errorf("bob's app cookie survived: %q", got)
	}
}

// signedOutThroughExtauthz says the hops went through extauthz's
// logged_out redirect to oauth2-proxy's sign-out, expiring the app cookie.
func signedOutThroughExtauthz(hops []hop) bool {
	for _, h := range hops {
		loc, _ := url.Parse(h.Header.Get("Location"))
		if h.Status == 302 && h.Header.Get("X-Extauthz-Reason") == "logged_out" && loc != nil &&
			loc.Path == "/oauth2/sign_out" && expiry(h, appCookie) != "" {
			return true
		}
	}
	return false
}

// TestBackchannelLogoutControl is the same story without extauthz: the
// IdP's logout reaches nobody and alice keeps access, so the test above
// cannot pass vacuously.
func TestBackchannelLogoutControl(t *testing.T) {
	forEachFrontend(t, backchannelLogoutControl)
}

func backchannelLogoutControl(t *testing.T, fe *frontend) {
	s := newStackWith(t, fe, false, stackOptions{identityJWT: true})
	b := s.browser(t)
	if p := page(s.signIn(b, alice)); shown(p) != alice.Email {
		t.Fatalf("alice's first page: %q", shown(p))
	}
	code, _ := backchannelLogout(t, s, alice.mock().Subject)
	if p := page(b.get("/after-logout")); p.Status != 200 || shown(p) != alice.Email {
		t.Fatalf("control: without extauthz alice should keep access after the IdP's logout (posted: %d), got %d %q", code, p.Status, shown(p))
	}
	if !strings.Contains(s.App.requests()[len(s.App.requests())-1].Cookie, appCookie) {
		t.Fatal("control: the app no longer sees alice's cookie")
	}
}

// TestIdentityJWTClientToken: when oauth2-proxy's answer carries no
// Authorization, a token the client sends itself must not reach extauthz
// or the app. The client's token is alice's own, validly signed by the
// IdP, so had it survived, extauthz would have bound her to a profile
// (TestBackchannelLogout shows it does with oauth2-proxy's token); without
// a token, require: true makes every request anonymous.
func TestIdentityJWTClientToken(t *testing.T) {
	forEachFrontend(t, func(t *testing.T, fe *frontend) {
		s := newStackWith(t, fe, true, stackOptions{config: jwtConfig(fe), identityJWT: true, o2pWithoutToken: true})
		b := s.browser(t)
		s.signIn(b, alice)
		before := len(s.App.requests())
		tok := "Bearer " + idToken(t, s, alice)
		hops := b.get("/mine", "Authorization", tok)
		if p := page(hops); p.Status != 200 || shown(p) != alice.Email {
			t.Fatalf("alice without oauth2-proxy's token: %d:%s\n%s", p.Status, describe(hops), p.Body)
		}
		reqs := s.App.requests()[before:]
		if len(reqs) == 0 {
			t.Fatal("the request never reached the app")
		}
		for i, r := range reqs {
			if r.ProfileID != "" || r.Auth != "" {
				t.Errorf("app request %d to %s: the client's Authorization survived: profile %q, its own token %v",
					i, r.URI, r.ProfileID, r.Auth == tok)
			}
		}
	})
}
