package envoy

import (
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// The fixed clock of every engine built here.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// tok returns the deterministic token whose 32 bytes all equal n; fixtures
// spell them out literally.
func tok(n byte) cookie.Token {
	var b [32]byte
	for i := range b {
		b[i] = n
	}
	return cookie.Token(cookie.TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]))
}

// world is the fixed scenery every golden row runs against.
type world struct {
	engine   *authz.Engine
	profiles *authztest.Profiles // shared by every app
	sessions *authztest.Sessions
	tokens   *authztest.Tokens
}

// returned reports whether a store handed out profile id.
func (w *world) returned(id string) bool {
	return w.tokens.Returned(id) || w.profiles.Returned(id)
}

var (
	alice    = authz.Profile{ID: "p-alice", Email: "alice@example.com", Name: "Alice", Active: true}
	bob      = authz.Profile{ID: "p-bob", Email: "bob@example.com", Name: "Bob", Active: true}
	blocked  = authz.Profile{ID: "p-blocked", Email: "blocked@example.com", Active: true, Blocked: true}
	inactive = authz.Profile{ID: "p-inactive", Email: "inactive@example.com", Active: false}
)

// session returns a session row for token n.
func session(n byte, p authz.Profile, app string, created, renewed, expires time.Duration) authz.Session {
	return authz.Session{
		Hash: tok(n).Hash(), ProfileID: p.ID, IdentityKey: "email:" + p.Email, Email: p.Email, App: app,
		CreatedAt: testNow.Add(created), RenewedAt: testNow.Add(renewed), ExpiresAt: testNow.Add(expires),
	}
}

// newWorld builds the engine of the golden tests:
//
//   - app "default": the documented defaults (no auto-register, unknown
//     identities anonymous, missing identity falls back to the session);
//   - app "wiki": auto-register on;
//   - app "strict": missing and unknown identities denied;
//   - app "tracker": a native cookie tracker_sid, redirect flushes, bypass
//     prefixes /healthz and /static, credentials "Authorization: Token …"
//     (validated) and "X-Api-Key: ol_api_…" (passed through).
//
// Sessions: token 1 alice/default live, 2 alice/default due for renewal,
// 3 alice/default expired, 4 bob/default live, 5 bob/tracker live,
// 6 blocked/default live. Profile lookups for down@example.com fail
// transiently, for broken@example.com permanently. New tokens are 100, 101…
func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{
		profiles: authztest.NewProfiles(alice, bob, blocked, inactive),
		sessions: authztest.NewSessions(
			session(1, alice, "default", -time.Hour, -time.Hour, 6*24*time.Hour),
			session(2, alice, "default", -7*time.Hour, -7*time.Hour, 6*24*time.Hour),
			session(3, alice, "default", -8*24*time.Hour, -8*24*time.Hour, -24*time.Hour),
			session(4, bob, "default", -time.Hour, -time.Hour, 6*24*time.Hour),
			session(5, bob, "tracker", -time.Hour, -time.Hour, 6*24*time.Hour),
			session(6, blocked, "default", -time.Hour, -time.Hour, 6*24*time.Hour),
		),
		tokens: authztest.NewTokens(map[string]authz.AccessToken{
			"tok_valid": {ProfileID: alice.ID, Name: "ci", CreatedAt: testNow.Add(-time.Hour), Profile: alice},
		}),
	}
	w.profiles.IDPrefix = "p-reg-"
	w.profiles.Errs["down@example.com"] = errors.Join(authz.ErrUnavailable, errors.New("dial tcp: connection refused"))
	w.profiles.Errs["broken@example.com"] = errors.New("relation \"profiles\" does not exist")

	owned := []string{"x-profile-id", "x-profile-email"}
	def := authz.DefaultPolicy("default")
	def.OwnedHeaders = owned

	wiki := authz.DefaultPolicy("wiki")
	wiki.OwnedHeaders = owned
	wiki.AutoRegister = true

	strict := authz.DefaultPolicy("strict")
	strict.OwnedHeaders = owned
	strict.OnMissingIdentity = authz.MissingDeny
	strict.OnUnknownIdentity = authz.UnknownDeny

	tracker := authz.DefaultPolicy("tracker")
	tracker.OwnedHeaders = owned
	tracker.NativeCookies = []authz.NativeCookie{{Name: "tracker_sid", Domain: "tracker.example.com", Path: "/", Secure: true}}
	tracker.BypassPrefixes = []string{"/healthz", "/static"}
	tracker.Credentials = []authz.Credential{
		{Header: "authorization", Scheme: "Token", Mode: authz.CredentialValidate},
		{Header: "x-api-key", Prefix: "ol_api_", Mode: authz.CredentialPassThrough},
	}

	next := byte(100)
	var mu sync.Mutex
	e, err := authz.New(authz.Config{
		Apps: []authz.App{
			{Policy: def, Profiles: w.profiles},
			{Policy: wiki, Profiles: w.profiles},
			{Policy: strict, Profiles: w.profiles},
			{Policy: tracker, Profiles: w.profiles},
		},
		Sessions: w.sessions,
		Tokens:   w.tokens,
		Now:      func() time.Time { return testNow },
		NewToken: func() (cookie.Token, error) {
			mu.Lock()
			defer mu.Unlock()
			t := tok(next)
			next++
			return t, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.engine = e
	return w
}
