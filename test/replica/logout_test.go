package replica

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/extauthz/extauthz/internal/oidctest"
	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// jwtConfig is two apps on identity_jwt (require: true) with their own
// native cookies, sending logged-out tokens to the proxy's sign-out.
func jwtConfig(issuer string) string {
	return fmt.Sprintf(`
identity_jwt:
  issuer: %s
  audiences: [proxy]
  require: true
sign_out_url: /oauth2/sign_out
apps:
  wiki:
    native_cookies: [{name: wiki_session}]
  crm:
    native_cookies: [{name: crm_sess}]
`, issuer)
}

func bearer(tok string) map[string]string {
	return map[string]string{"authorization": "Bearer " + tok, "accept": "text/html"}
}

// TestBackchannelLogoutReachesOtherReplica: a back-channel logout posted
// to replica A ends the person's sessions in every app on replica B, whose
// caches were warm (cache_ttl 1h: only the change feed can explain it); a
// replayed or forged logout token changes nothing.
func TestBackchannelLogoutReachesOtherReplica(t *testing.T) {
	db := pgtest.URL(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, env, "migrate")
	harness.CLI(t, env, "profile", "add", "--email", "alice@example.com")
	harness.CLI(t, env, "profile", "add", "--email", "bob@example.com")
	idp := oidctest.New(t)
	opts := harness.Options{DatabaseURL: db, Config: jwtConfig(idp.URL), Args: []string{"--cache-ttl", "1h", "--log-level", "warn"}}
	a, b := harness.Start(t, opts), harness.Start(t, opts)
	waitFeed(t, a)
	waitFeed(t, b)

	alice := idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "sid-1")
	bob := idp.IDToken(t, "proxy", "bob@example.com", "sub-bob", "sid-9")
	signIn := func(svc *harness.Service, app, tok, native string) harness.Request {
		t.Helper()
		r := check(t, svc, harness.Request{App: app, Headers: bearer(tok)})
		if !r.Allow || r.Reason() != "rekey" || r.Upstream["x-profile-id"] == "" {
			t.Fatalf("sign-in to %s: %d %s", app, r.Status, r.Reason())
		}
		req := harness.Request{App: app, Headers: bearer(tok),
			Cookie: sessionCookie + "=" + r.SessionToken(sessionCookie) + "; " + native + "=app-cookie"}
		if r := check(t, svc, req); !r.Allow || r.Reason() != "session_match" {
			t.Fatalf("steady state in %s: %d %s", app, r.Status, r.Reason())
		}
		return req
	}
	wikiA := signIn(a, "wiki", alice, "wiki_session")
	crmB := signIn(b, "crm", alice, "crm_sess")
	wikiB := signIn(b, "wiki", alice, "wiki_session")
	bobB := signIn(b, "crm", bob, "crm_sess")

	// Forged (another key) and unconfigured-audience tokens: 400, nothing changes.
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := oidctest.Sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: forger}, "test-key-1", idp.LogoutClaims("proxy", "sub-alice", "sid-1"))
	if code, body := oidctest.PostLogout(t, "http://"+a.CheckAddr, forged); code != 400 || !strings.Contains(body, "signature") {
		t.Fatalf("forged logout token: %d %s", code, body)
	}
	if code, _ := oidctest.PostLogout(t, "http://"+a.CheckAddr, idp.Sign(t, idp.LogoutClaims("other-client", "sub-alice", "sid-1"))); code != 400 {
		t.Fatalf("logout token for another audience: %d", code)
	}
	if r := check(t, b, crmB); !r.Allow || r.Reason() != "session_match" {
		t.Fatalf("after forged logouts: %d %s", r.Status, r.Reason())
	}

	// The IdP ends alice's session sid-1, through replica A.
	logout := idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-1"))
	code, body := oidctest.PostLogout(t, "http://"+a.CheckAddr, logout)
	posted := time.Now()
	if code != 200 {
		t.Fatalf("logout: %d %s", code, body)
	}
	r := pollUntilDenied(t, b, crmB, posted)
	if r.Status != 302 || r.Reason() != "logged_out" || !strings.HasPrefix(r.Response["location"], "/oauth2/sign_out?rd=") {
		t.Fatalf("crm on B: %d %s location %q", r.Status, r.Reason(), r.Response["location"])
	}
	if !r.Expires("crm_sess") || !r.Expires(sessionCookie) {
		t.Fatalf("crm on B kept cookies: %v", r.SetCookies)
	}
	for name, req := range map[string]harness.Request{"wiki on B": wikiB, "wiki on A": wikiA} {
		svc := b
		if name == "wiki on A" {
			svc = a
		}
		if r := check(t, svc, req); r.Allow || r.Reason() != "logged_out" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Reason())
		}
	}
	// Without its token, the session cookie alone is a revoked binding.
	noTok := crmB
	noTok.Headers = map[string]string{"accept": "text/html"}
	if r := check(t, b, noTok); r.Upstream["x-profile-id"] != "" {
		t.Fatalf("revoked session still yields a profile: %+v", r)
	}
	// Bob is untouched; a replay on B changes nothing.
	if r := check(t, b, bobB); !r.Allow || r.Reason() != "session_match" {
		t.Fatalf("bob after alice's logout: %d %s", r.Status, r.Reason())
	}
	if code, body := oidctest.PostLogout(t, "http://"+b.CheckAddr, logout); code != 400 || !strings.Contains(body, "already used") {
		t.Fatalf("replayed logout token: %d %s", code, body)
	}
	// Alice signs in again at the IdP: a new session id, a new token.
	again := idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "sid-2")
	if r := check(t, b, harness.Request{App: "crm", Headers: bearer(again)}); !r.Allow || r.Reason() != "rekey" {
		t.Fatalf("signing in again: %d %s", r.Status, r.Reason())
	}
}

// pollUntilDenied checks req on svc until it is denied, and logs how long
// after posted that took (generous deadline: no timed assertion).
func pollUntilDenied(t *testing.T, svc *harness.Service, req harness.Request, posted time.Time) harness.Result {
	t.Helper()
	deadline := posted.Add(10 * time.Second)
	polls := 0
	for {
		r := check(t, svc, req)
		polls++
		if !r.Allow {
			t.Logf("replica B enforced the logout %s after replica A answered it (%d polls; issue's bound %s)",
				time.Since(posted), polls, invalidationBound)
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("replica B still allows the logged-out session after 10s")
		}
	}
}

// TestBackchannelLogoutWithoutCaches: with the caches off (cache_memory 0)
// the change feed still carries a back-channel logout to the other
// replica's ledger, so a fresh sign-in there with the logged-out token is
// refused at once, not at the ledger's next periodic reload (30 s, beyond
// this test's 10 s deadline).
func TestBackchannelLogoutWithoutCaches(t *testing.T) {
	db := pgtest.URL(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, env, "migrate")
	harness.CLI(t, env, "profile", "add", "--email", "alice@example.com")
	idp := oidctest.New(t)
	opts := harness.Options{DatabaseURL: db, Config: jwtConfig(idp.URL), Args: []string{"--cache-memory", "0", "--log-level", "warn"}}
	a, b := harness.Start(t, opts), harness.Start(t, opts)
	waitFeed(t, a)
	waitFeed(t, b)

	alice := idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "sid-1")
	if r := check(t, b, harness.Request{App: "crm", Headers: bearer(alice)}); !r.Allow || r.Reason() != "rekey" {
		t.Fatalf("sign-in on B: %d %s", r.Status, r.Reason())
	}
	code, body := oidctest.PostLogout(t, "http://"+a.CheckAddr, idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", "sid-1")))
	posted := time.Now()
	if code != 200 {
		t.Fatalf("logout: %d %s", code, body)
	}
	// A new browser with the same token: without the ledger it would get
	// a fresh session.
	r := pollUntilDenied(t, b, harness.Request{App: "crm", Headers: bearer(alice)}, posted)
	if r.Status != 302 || r.Reason() != "logged_out" {
		t.Fatalf("logged-out token on B: %d %s", r.Status, r.Reason())
	}
}
