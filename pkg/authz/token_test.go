package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
)

// fakeVerifier answers VerifyIdentity from a table of tokens; anything
// else is invalid, or unavailable when down is set.
type fakeVerifier struct {
	tokens map[string]authz.VerifiedIdentity
	down   bool
	calls  int
}

func (f *fakeVerifier) VerifyIdentity(_ context.Context, raw string) (authz.VerifiedIdentity, error) {
	f.calls++
	if vi, ok := f.tokens[raw]; ok {
		return vi, nil
	}
	if f.down {
		return authz.VerifiedIdentity{}, fmt.Errorf("keys: %w", authz.ErrUnavailable)
	}
	return authz.VerifiedIdentity{}, fmt.Errorf("%w: signature does not verify", authz.ErrTokenInvalid)
}

// newTokenHarness is the harness with identity_jwt on in the
// authorization header, natives "app_session", and ver as the verifier.
func newTokenHarness(t *testing.T, ver *fakeVerifier, require bool) *harness {
	t.Helper()
	h := &harness{
		t: t, profiles: newProfiles(alice, bob, blocked), sessions: newSessions(),
		tokens: authztest.NewTokens(nil), toks: &seqTokens{n: 100}, now: t0,
		policy: authz.DefaultPolicy(authz.DefaultApp),
	}
	h.policy.IdentityJWT = authz.TokenPolicy{Header: "authorization", Issuer: "https://idp", Audiences: []string{"a"}, Require: require}
	h.policy.SignOutURL = "/oauth2/sign_out"
	h.policy.LogoutPath = "/.extauthz/logout"
	h.policy.NativeCookies = []authz.NativeCookie{{Name: "app_session", Path: "/"}}
	eng, err := authz.New(authz.Config{
		Apps:     []authz.App{{Policy: h.policy, Profiles: h.profiles, Identity: ver}},
		Sessions: h.sessions, Tokens: h.tokens, Revoker: h.sessions,
		Now: func() time.Time { return h.now }, NewToken: h.toks.next,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	return h
}

func bearer(tok string) string { return "authorization: Bearer " + tok }

func TestIdentityJWTRows(t *testing.T) {
	aliceTok := authz.VerifiedIdentity{Issuer: "https://idp", Subject: "sub-a", SID: "sid-1", Email: "Alice@Example.com"}
	ver := &fakeVerifier{tokens: map[string]authz.VerifiedIdentity{
		"good":    aliceTok,
		"noemail": {Issuer: "https://idp", Subject: "sub-x"},
		"gone":    {Issuer: "https://idp", Subject: "sub-a", SID: "sid-0", Email: "alice@example.com", LoggedOut: true},
	}}
	cases := []struct {
		name    string
		require bool
		down    bool
		lines   []string
		status  int
		reason  authz.Reason
		profile string
		body    string
	}{
		{"valid token", true, false, []string{bearer("good")}, 200, authz.ReasonRekey, alice.ID, ""},
		{"valid token, agreeing plain header", true, false, []string{bearer("good"), email("alice@example.com")}, 200, authz.ReasonRekey, alice.ID, ""},
		{"plain header disagrees (row 3)", true, false, []string{bearer("good"), email("bob@example.com")}, 400, authz.ReasonIdentityMalformed, "", ""},
		{"bad token", false, false, []string{bearer("forged"), email("alice@example.com")}, 401, authz.ReasonIdentityInvalid, "", "signature does not verify"},
		{"no email claim", true, false, []string{bearer("noemail")}, 401, authz.ReasonIdentityInvalid, "", "no usable email claim"},
		{"two tokens", true, false, []string{bearer("good"), bearer("other")}, 400, authz.ReasonIdentityMalformed, "", ""},
		{"keys unavailable (row 6)", true, true, []string{bearer("unknown")}, 503, authz.ReasonLookupUnavailable, "", ""},
		{"require: plain header alone is nobody", true, false, []string{email("alice@example.com")}, 200, authz.ReasonAnonymous, "", ""},
		{"require off: plain header counts", false, false, []string{email("alice@example.com")}, 200, authz.ReasonRekey, alice.ID, ""},
		{"basic auth is not a token", true, false, []string{"authorization: Basic eDp5", email("bob@example.com")}, 200, authz.ReasonAnonymous, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ver.down = c.down
			h := newTokenHarness(t, ver, c.require)
			d := h.decide(req(c.lines...))
			if d.Status != c.status || d.Reason != c.reason || d.ProfileID != c.profile {
				t.Fatalf("got %d %s %q, want %d %s %q (body %s)", d.Status, d.Reason, d.ProfileID, c.status, c.reason, c.profile, d.Body)
			}
			if c.body != "" {
				var raw map[string]string
				if err := json.Unmarshal([]byte(d.Body), &raw); err != nil || !strings.Contains(raw["error_description"], c.body) || raw["error"] != string(c.reason) {
					t.Fatalf("body %s, want error_description with %q", d.Body, c.body)
				}
			}
			if d.Status >= 400 && len(d.SetCookies) > 0 {
				t.Fatalf("a refusal set cookies: %v", d.SetCookies)
			}
		})
	}
}

func TestIdentityJWTSessionRecordsSubAndSID(t *testing.T) {
	ver := &fakeVerifier{tokens: map[string]authz.VerifiedIdentity{
		"good": {Issuer: "https://idp", Subject: "sub-a", SID: "sid-1", Email: "alice@example.com"},
	}}
	h := newTokenHarness(t, ver, true)
	d := h.decide(req(bearer("good")))
	tok, ok := issued(d)
	if !ok {
		t.Fatalf("no session issued: %+v", d)
	}
	s, _ := h.sessions.Row(tok.Hash())
	if s.Issuer != "https://idp" || s.Subject != "sub-a" || s.SID != "sid-1" {
		t.Fatalf("session records %q %q %q", s.Issuer, s.Subject, s.SID)
	}
	// The steady state: the same token and the cookie, no write.
	d = h.decide(req(bearer("good"), sessCookie(tok)))
	if d.Reason != authz.ReasonSessionMatch || d.ProfileID != alice.ID {
		t.Fatalf("steady state: %d %s", d.Status, d.Reason)
	}
}

func TestLoggedOutTokenGoesToSignOut(t *testing.T) {
	ver := &fakeVerifier{tokens: map[string]authz.VerifiedIdentity{
		"gone": {Issuer: "https://idp", Subject: "sub-a", SID: "sid-0", Email: "alice@example.com", LoggedOut: true},
	}}
	h := newTokenHarness(t, ver, true)
	tok := h.bind(1, alice)
	in := req(bearer("gone"), sessCookie(tok)+"; app_session=old", "accept: text/html")
	in.Path = "/docs?page=2"
	d := h.decide(in)
	loc, _ := d.ResponseHeader("location")
	if d.Status != 302 || d.Reason != authz.ReasonLoggedOut || loc != "/oauth2/sign_out?rd=%2Fdocs%3Fpage%3D2" {
		t.Fatalf("got %d %s location %q", d.Status, d.Reason, loc)
	}
	if !expired(d, "app_session") || !expired(d, "extauthz_session") {
		t.Fatalf("cookies not expired: %v", d.SetCookies)
	}
	if h.sessions.Has(tok.Hash()) {
		t.Fatal("the presented session survived")
	}
	// An XHR gets a 401, never an allow.
	d = h.decide(req(bearer("gone"), "cookie: app_session=old"))
	if d.Allow || d.Status != 401 || d.Reason != authz.ReasonLoggedOut || !expired(d, "app_session") {
		t.Fatalf("xhr: %d %s %v", d.Status, d.Reason, d.SetCookies)
	}
}

func TestLogoutPathRevokesEveryApp(t *testing.T) {
	ver := &fakeVerifier{tokens: map[string]authz.VerifiedIdentity{}}
	h := newTokenHarness(t, ver, false)
	tok := h.bind(1, alice)
	other := h.bind(2, alice) // another app's, or another browser's
	other2 := h.bind(3, bob)
	in := req(sessCookie(tok), "accept: text/html")
	in.Path = "/.extauthz/logout?x=1"
	d := h.decide(in)
	loc, _ := d.ResponseHeader("location")
	if d.Status != 302 || d.Reason != authz.ReasonLogout || loc != "/oauth2/sign_out?rd=%2F" {
		t.Fatalf("got %d %s %q", d.Status, d.Reason, loc)
	}
	if !expired(d, "extauthz_session") || !expired(d, "app_session") {
		t.Fatalf("cookies: %v", d.SetCookies)
	}
	if h.sessions.Has(tok.Hash()) || h.sessions.Has(other.Hash()) || !h.sessions.Has(other2.Hash()) {
		t.Fatal("revocation: wrong sessions left")
	}
	// A store outage logs nobody out halfway and sets nothing.
	tok = h.bind(4, alice)
	h.sessions.WriteErr = fmt.Errorf("down: %w", authz.ErrUnavailable)
	in = req(sessCookie(tok), "accept: text/html")
	in.Path = "/.extauthz/logout"
	d = h.decide(in)
	if d.Status != 503 || len(d.SetCookies) != 0 || !h.sessions.Has(tok.Hash()) {
		t.Fatalf("outage: %d %v", d.Status, d.SetCookies)
	}
}
