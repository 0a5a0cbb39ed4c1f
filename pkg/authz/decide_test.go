package authz_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/cookie"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var (
	alice   = authz.Profile{ID: "p-alice", Email: "alice@example.com", Active: true}
	bob     = authz.Profile{ID: "p-bob", Email: "bob@example.com", Active: true}
	blocked = authz.Profile{ID: "p-blocked", Email: "mallory@example.com", Active: true, Blocked: true}
	retired = authz.Profile{ID: "p-retired", Email: "old@example.com", Active: false}
	deleted = authz.Profile{ID: "p-deleted", Email: "gone@example.com", Active: true, Deleted: true}
)

// harness is one engine over fake stores with a settable clock.
type harness struct {
	t        *testing.T
	profiles *authztest.Profiles
	sessions *authztest.Sessions
	tokens   *authztest.Tokens
	toks     *seqTokens
	now      time.Time
	policy   authz.Policy
	eng      *authz.Engine
}

func newHarness(t *testing.T, mutate ...func(*authz.Policy)) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		profiles: newProfiles(alice, bob, blocked, retired, deleted),
		sessions: newSessions(),
		tokens:   authztest.NewTokens(nil),
		toks:     &seqTokens{n: 100},
		now:      t0,
		policy:   authz.DefaultPolicy(authz.DefaultApp),
	}
	for _, m := range mutate {
		m(&h.policy)
	}
	eng, err := authz.New(authz.Config{
		Apps:     []authz.App{{Policy: h.policy, Profiles: h.profiles}},
		Sessions: h.sessions,
		Tokens:   h.tokens,
		Now:      func() time.Time { return h.now },
		NewToken: h.toks.next,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	return h
}

// bind stores a session for prof under token n, created at the current time.
func (h *harness) bind(n int, prof authz.Profile) cookie.Token {
	tok := testToken(n)
	h.sessions.Rows[tok.Hash()] = authz.Session{
		Hash: tok.Hash(), ProfileID: prof.ID, IdentityKey: "email:" + prof.Email, Email: prof.Email,
		App: h.policy.App, CreatedAt: h.now, RenewedAt: h.now, ExpiresAt: h.now.Add(h.policy.SessionMaxAge),
	}
	return tok
}

func (h *harness) decide(in authz.Input) authz.Decision {
	h.t.Helper()
	if in.Method == "" {
		in.Method = "GET"
	}
	if in.Path == "" {
		in.Path = "/"
	}
	return h.eng.Decide(context.Background(), in)
}

// req builds an Input from "name: value" header lines; cookie lines are also
// parsed into Cookies, as front ends do.
func req(lines ...string) authz.Input {
	in := authz.Input{Method: "GET", Path: "/", Headers: authz.Headers{}}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimPrefix(value, " ")
		in.Headers.Add(name, value)
		if name == "cookie" {
			in.Cookies = append(in.Cookies, cookie.Parse(value)...)
		}
	}
	return in
}

func email(e string) string            { return "x-auth-request-email: " + e }
func sessCookie(t cookie.Token) string { return "cookie: extauthz_session=" + string(t) }

// expired reports whether the decision expires the cookie called name.
func expired(d authz.Decision, name string) bool {
	for _, c := range d.SetCookies {
		if strings.HasPrefix(c, name+"=;") && strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}

// issued returns the token a decision sets in the service cookie.
func issued(d authz.Decision) (cookie.Token, bool) {
	for _, c := range d.SetCookies {
		if v, ok := strings.CutPrefix(c, "extauthz_session="); ok {
			v, _, _ = strings.Cut(v, ";")
			if v != "" {
				return cookie.Token(v), true
			}
		}
	}
	return "", false
}

func TestDecisionTable(t *testing.T) {
	transient := fmt.Errorf("dial: %w", authz.ErrUnavailable)
	permanent := errors.New("syntax error at or near")

	type want struct {
		allow     bool
		status    int
		reason    authz.Reason
		profile   string
		issues    bool // a new service cookie
		expires   bool // the service cookie expired
		noCookies bool // no Set-Cookie at all
	}
	tests := []struct {
		name   string
		policy func(*authz.Policy)
		setup  func(h *harness) authz.Input
		want   want
		check  func(t *testing.T, h *harness, d authz.Decision)
	}{
		{
			name:  "row 3: not an email",
			setup: func(h *harness) authz.Input { return req(email("not-an-email")) },
			want:  want{status: 400, reason: authz.ReasonIdentityMalformed, noCookies: true},
		},
		{
			name:  "row 3: two different emails in one joined header",
			setup: func(h *harness) authz.Input { return req(email("alice@example.com,bob@example.com")) },
			want:  want{status: 400, reason: authz.ReasonIdentityMalformed, noCookies: true},
		},
		{
			name: "row 3: two different emails on two lines, with a live session",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				return req(email("alice@example.com"), email("bob@example.com"), sessCookie(tok))
			},
			want: want{status: 400, reason: authz.ReasonIdentityMalformed, noCookies: true},
		},
		{
			name:  "row 3: control character",
			setup: func(h *harness) authz.Input { return req(email("alice@exa\x01mple.com")) },
			want:  want{status: 400, reason: authz.ReasonIdentityMalformed, noCookies: true},
		},
		{
			name:  "row 3: too long",
			setup: func(h *harness) authz.Input { return req(email(strings.Repeat("a", 250) + "@example.com")) },
			want:  want{status: 400, reason: authz.ReasonIdentityMalformed, noCookies: true},
		},
		{
			name: "row 3 passes: the same email twice is one identity",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				return req(email("alice@example.com"), email(" ALICE@example.com "), sessCookie(tok))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "p-alice", noCookies: true},
		},
		{
			name: "row 4: no identity, live session, policy session",
			setup: func(h *harness) authz.Input {
				return req(sessCookie(h.bind(1, alice)))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonSessionOnly, profile: "p-alice", noCookies: true},
		},
		{
			name:   "row 4: no identity, live session, policy deny",
			policy: func(p *authz.Policy) { p.OnMissingIdentity = authz.MissingDeny },
			setup: func(h *harness) authz.Input {
				return req(sessCookie(h.bind(1, alice)))
			},
			want: want{status: 401, reason: authz.ReasonIdentityMissing, noCookies: true},
		},
		{
			name: "row 4 then row 10: session of a since-blocked profile",
			setup: func(h *harness) authz.Input {
				return req(sessCookie(h.bind(1, blocked)))
			},
			want: want{status: 403, reason: authz.ReasonProfileBlocked, expires: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if h.sessions.Has(testToken(1).Hash()) {
					t.Error("blocked profile's session row survived")
				}
			},
		},
		{
			name:  "row 5: nobody, policy session: anonymous",
			setup: func(h *harness) authz.Input { return req() },
			want:  want{allow: true, status: 200, reason: authz.ReasonAnonymous, noCookies: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if !slices.Contains(d.UpstreamRemove, "x-profile-id") {
					t.Errorf("anonymous allow must strip x-profile-id; remove=%v", d.UpstreamRemove)
				}
			},
		},
		{
			name:  "row 5: whitespace-only identity is absent",
			setup: func(h *harness) authz.Input { return req(email("   ")) },
			want:  want{allow: true, status: 200, reason: authz.ReasonAnonymous, noCookies: true},
		},
		{
			name:   "row 5: nobody, policy deny",
			policy: func(p *authz.Policy) { p.OnMissingIdentity = authz.MissingDeny },
			setup:  func(h *harness) authz.Input { return req() },
			want:   want{status: 401, reason: authz.ReasonIdentityMissing, noCookies: true},
		},
		{
			name:  "row 5: dead (garbage) cookie is expired",
			setup: func(h *harness) authz.Input { return req("cookie: extauthz_session=garbage") },
			want:  want{allow: true, status: 200, reason: authz.ReasonAnonymous, expires: true},
		},
		{
			name: "row 5: expired session is expired, deny policy too",
			policy: func(p *authz.Policy) {
				p.OnMissingIdentity = authz.MissingDeny
			},
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.now = h.now.Add(8 * 24 * time.Hour)
				return req(sessCookie(tok))
			},
			want: want{status: 401, reason: authz.ReasonIdentityMissing, expires: true},
		},
		{
			name: "row 6: profile store unavailable: 503, nothing flushed",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.profiles.Err = transient
				return req(email("bob@example.com"), sessCookie(tok))
			},
			want: want{status: 503, reason: authz.ReasonLookupUnavailable, noCookies: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if !h.sessions.Has(testToken(1).Hash()) {
					t.Error("a transient failure deleted a session")
				}
				if v, ok := d.ResponseHeader("retry-after"); !ok || v == "" {
					t.Error("503 without retry-after")
				}
			},
		},
		{
			name: "row 6: session store unavailable: 503",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.sessions.Err = transient
				return req(email("alice@example.com"), sessCookie(tok))
			},
			want: want{status: 503, reason: authz.ReasonLookupUnavailable, noCookies: true},
		},
		{
			name: "row 6: re-key write unavailable: 503 without Set-Cookie",
			setup: func(h *harness) authz.Input {
				h.sessions.WriteErr = transient
				return req(email("alice@example.com"))
			},
			want: want{status: 503, reason: authz.ReasonLookupUnavailable, noCookies: true},
		},
		{
			name: "row 6: flush delete unavailable: 503, cookie kept",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.sessions.WriteErr = transient
				return req(email("stranger@example.com"), sessCookie(tok))
			},
			want: want{status: 503, reason: authz.ReasonLookupUnavailable, noCookies: true},
		},
		{
			name: "row 7: permanent lookup error: 500, nothing flushed",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.profiles.Err = permanent
				return req(email("alice@example.com"), sessCookie(tok))
			},
			want: want{status: 500, reason: authz.ReasonLookupError, noCookies: true},
		},
		{
			name:   "row 8: auto-register creates the profile and re-keys",
			policy: func(p *authz.Policy) { p.AutoRegister = true },
			setup: func(h *harness) authz.Input {
				return req(email("New.User@Example.com"), "x-auth-request-preferred-username: New User")
			},
			want: want{allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", issues: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if p := h.profiles.Get("new.user@example.com"); p.Name != "New User" {
					t.Errorf("registered %+v", p)
				}
			},
		},
		{
			name:   "row 8: a registration over the replica's rate: 429 with Retry-After, nothing written",
			policy: func(p *authz.Policy) { p.AutoRegister = true },
			setup: func(h *harness) authz.Input {
				h.profiles.RegisterErr = fmt.Errorf("profile: register: %w", authz.ErrRateLimited)
				return req(email("new@example.com"), sessCookie(h.bind(1, alice)))
			},
			want: want{status: 429, reason: authz.ReasonRegistrationLimited, noCookies: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if v, _ := d.ResponseHeader("retry-after"); v == "" {
					t.Error("429 without Retry-After")
				}
				if !h.sessions.Has(testToken(1).Hash()) {
					t.Error("a refused registration flushed the browser's session")
				}
			},
		},
		{
			name:  "row 9: unknown email, no cookie: anonymous",
			setup: func(h *harness) authz.Input { return req(email("stranger@example.com")) },
			want:  want{allow: true, status: 200, reason: authz.ReasonIdentityUnknown, noCookies: true},
		},
		{
			name: "row 9: unknown email flushes the previous person's session",
			setup: func(h *harness) authz.Input {
				return req(email("stranger@example.com"), sessCookie(h.bind(1, alice)))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonIdentityUnknown, expires: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if h.sessions.Has(testToken(1).Hash()) {
					t.Error("flush left the session row")
				}
				if _, ok := d.Upstream("x-profile-id"); ok {
					t.Error("anonymous allow injected a profile id")
				}
			},
		},
		{
			name:   "row 9: unknown email, policy deny",
			policy: func(p *authz.Policy) { p.OnUnknownIdentity = authz.UnknownDeny },
			setup: func(h *harness) authz.Input {
				return req(email("stranger@example.com"), sessCookie(h.bind(1, alice)))
			},
			want: want{status: 401, reason: authz.ReasonIdentityUnknown, expires: true},
		},
		{
			name: "row 10: blocked, own session flushed",
			setup: func(h *harness) authz.Input {
				return req(email("mallory@example.com"), sessCookie(h.bind(1, blocked)))
			},
			want: want{status: 403, reason: authz.ReasonProfileBlocked, expires: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if h.sessions.Has(testToken(1).Hash()) {
					t.Error("blocked user's own session survived")
				}
			},
		},
		{
			name:  "row 10: inactive",
			setup: func(h *harness) authz.Input { return req(email("old@example.com")) },
			want:  want{status: 403, reason: authz.ReasonProfileInactive, noCookies: true},
		},
		{
			name: "row 10: deleted, another person's session flushed",
			setup: func(h *harness) authz.Input {
				return req(email("gone@example.com"), sessCookie(h.bind(1, alice)))
			},
			want: want{status: 403, reason: authz.ReasonProfileInactive, expires: true},
		},
		{
			name: "row 11: match, case and space differ: no cookie change",
			setup: func(h *harness) authz.Input {
				return req(email("  Alice@EXAMPLE.com "), sessCookie(h.bind(1, alice)))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "p-alice", noCookies: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if got := slices.Index(h.sessions.Calls, "replace"); got >= 0 {
					t.Error("steady state wrote to the store")
				}
			},
		},
		{
			name: "row 11: renewal when due",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.now = h.now.Add(7 * time.Hour)
				return req(email("alice@example.com"), sessCookie(tok))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonSessionRenewed, profile: "p-alice"},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if tok, ok := issued(d); !ok || tok != testToken(1) {
					t.Errorf("renewal must re-send the same token, got %v", d.SetCookies)
				}
				if s := h.sessions.Rows[testToken(1).Hash()]; !s.RenewedAt.Equal(h.now) {
					t.Errorf("renewed_at not moved: %v", s.RenewedAt)
				}
			},
		},
		{
			name: "row 11: failed renewal still allows, without Set-Cookie",
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				h.now = h.now.Add(7 * time.Hour)
				h.sessions.WriteErr = transient
				return req(email("alice@example.com"), sessCookie(tok))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "p-alice", noCookies: true},
		},
		{
			name:  "row 12: first visit: re-key",
			setup: func(h *harness) authz.Input { return req(email("alice@example.com")) },
			want:  want{allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", issues: true},
		},
		{
			name: "row 12: forged cookie: re-key",
			setup: func(h *harness) authz.Input {
				return req(email("alice@example.com"), sessCookie(testToken(77)))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", issues: true},
		},
		{
			name: "row 12: another identity's session: identity_changed, old row deleted",
			setup: func(h *harness) authz.Input {
				return req(email("bob@example.com"), sessCookie(h.bind(1, alice)))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonIdentityChanged, profile: "p-bob", issues: true},
			check: func(t *testing.T, h *harness, d authz.Decision) {
				if h.sessions.Has(testToken(1).Hash()) {
					t.Error("re-key kept the previous person's row")
				}
				tok, _ := issued(d)
				if s := h.sessions.Rows[tok.Hash()]; s.ProfileID != "p-bob" {
					t.Errorf("new session = %+v", s)
				}
				if v, _ := d.Upstream("x-profile-id"); v != "p-bob" {
					t.Errorf("upstream x-profile-id = %q", v)
				}
			},
		},
		{
			name:   "row 12: identity key is the user id: same email, new user id re-keys",
			policy: func(p *authz.Policy) { p.IdentityKey = authz.KeyUser },
			setup: func(h *harness) authz.Input {
				tok := h.bind(1, alice)
				s := h.sessions.Rows[tok.Hash()]
				s.IdentityKey = "user:u-1"
				h.sessions.Rows[tok.Hash()] = s
				return req(email("alice@example.com"), "x-auth-request-user: u-2", sessCookie(tok))
			},
			want: want{allow: true, status: 200, reason: authz.ReasonIdentityChanged, profile: "p-alice", issues: true},
		},
		{
			name:  "bare user id without a default domain: misconfigured",
			setup: func(h *harness) authz.Input { return req("x-auth-request-user: alice") },
			want:  want{status: 503, reason: authz.ReasonMisconfigured, noCookies: true},
		},
		{
			name:   "bare user id completed with the default domain",
			policy: func(p *authz.Policy) { p.DefaultEmailDomain = "example.com" },
			setup:  func(h *harness) authz.Input { return req("x-auth-request-user: Alice") },
			want:   want{allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", issues: true},
		},
		{
			name:  "unknown app: misconfigured, fail closed",
			setup: func(h *harness) authz.Input { in := req(email("alice@example.com")); in.App = "nope"; return in },
			want:  want{status: 503, reason: authz.ReasonMisconfigured, noCookies: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var muts []func(*authz.Policy)
			if tc.policy != nil {
				muts = append(muts, tc.policy)
			}
			h := newHarness(t, muts...)
			d := h.decide(tc.setup(h))
			w := tc.want
			if d.Allow != w.allow || d.Status != w.status || d.Reason != w.reason {
				t.Fatalf("got allow=%v status=%d reason=%s; want allow=%v status=%d reason=%s (cookies %v)",
					d.Allow, d.Status, d.Reason, w.allow, w.status, w.reason, d.SetCookies)
			}
			if d.Allow && d.ProfileID != w.profile {
				t.Errorf("profile = %q, want %q", d.ProfileID, w.profile)
			}
			if _, got := issued(d); got != w.issues && !(w.issues == false && d.Reason == authz.ReasonSessionRenewed) {
				t.Errorf("issues a session cookie = %v, want %v: %v", got, w.issues, d.SetCookies)
			}
			if got := expired(d, "extauthz_session"); got != w.expires {
				t.Errorf("expires the session cookie = %v, want %v: %v", got, w.expires, d.SetCookies)
			}
			if w.noCookies && len(d.SetCookies) > 0 {
				t.Errorf("want no Set-Cookie, got %v", d.SetCookies)
			}
			if v, _ := d.ResponseHeader("x-extauthz-reason"); v != string(w.reason) {
				t.Errorf("x-extauthz-reason = %q", v)
			}
			if !d.Allow {
				if v, _ := d.ResponseHeader("cache-control"); v != "no-store" {
					t.Errorf("deny without cache-control: no-store")
				}
				if d.Renewed {
					t.Error("renewed on a deny")
				}
			}
			if d.Renewed && d.Rekeyed {
				t.Error("renewed alongside a re-key")
			}
			if tc.check != nil {
				tc.check(t, h, d)
			}
		})
	}
}
