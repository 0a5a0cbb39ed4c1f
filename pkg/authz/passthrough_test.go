package authz_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
)

// A pass-through credential skips the session work, not the person: with an
// asserted identity, rows 3, 9 and 10 still apply; and a request that skips
// the person checks never carries the service cookie or a native cookie of
// the app upstream (invariant 13).
func TestPassThroughCredentialStillChecksThePerson(t *testing.T) {
	apiKey := "x-api-key: x"
	for _, tc := range []struct {
		name     string
		policy   func(*authz.Policy)
		lines    func(h *harness) []string
		status   int
		reason   authz.Reason
		deleted  bool // the presented session row is gone
		upstream string
	}{
		{
			name:   "blocked person with an API key",
			lines:  func(h *harness) []string { return []string{apiKey, email("mallory@example.com")} },
			status: 403, reason: authz.ReasonProfileBlocked,
		},
		{
			name: "blocked person with an API key and a session: flushed",
			lines: func(h *harness) []string {
				return []string{apiKey, email("mallory@example.com"), "cookie: auth-token=m; " + strings.TrimPrefix(sessCookie(h.bind(1, blocked)), "cookie: ")}
			},
			status: 403, reason: authz.ReasonProfileBlocked, deleted: true,
		},
		{
			name:   "inactive person with an API key",
			lines:  func(h *harness) []string { return []string{apiKey, email("old@example.com")} },
			status: 403, reason: authz.ReasonProfileInactive,
		},
		{
			name:   "unknown person where unknown people are denied",
			policy: func(p *authz.Policy) { p.OnUnknownIdentity = authz.UnknownDeny },
			lines:  func(h *harness) []string { return []string{apiKey, email("stranger@example.com")} },
			status: 401, reason: authz.ReasonIdentityUnknown,
		},
		{
			name: "ambiguous identity",
			lines: func(h *harness) []string {
				return []string{apiKey, email("bob@example.com"), email("alice@example.com")}
			},
			status: 400, reason: authz.ReasonIdentityMalformed,
		},
		{
			name: "Bob with Alice's app session and service cookie",
			lines: func(h *harness) []string {
				return []string{apiKey, email("bob@example.com"), "cookie: theme=dark; auth-token=ALICES; " + strings.TrimPrefix(sessCookie(h.bind(1, alice)), "cookie: ") + "; csrf=a"}
			},
			status: 200, reason: authz.ReasonPassThrough, upstream: "theme=dark",
		},
		{
			name:   "no identity, native cookie only",
			lines:  func(h *harness) []string { return []string{apiKey, "cookie: auth-token=ALICES"} },
			status: 200, reason: authz.ReasonPassThrough,
		},
		{
			name: "validated token: no browser cookie upstream either",
			lines: func(h *harness) []string {
				return []string{"authorization: Token good", "cookie: auth-token=ALICES; theme=dark"}
			},
			status: 200, reason: authz.ReasonAccessToken, upstream: "theme=dark",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := []func(*authz.Policy){withNatives, func(p *authz.Policy) {
				p.Credentials = []authz.Credential{
					{Header: "authorization", Scheme: "Token", Mode: authz.CredentialValidate},
					{Header: "x-api-key", Mode: authz.CredentialPassThrough},
				}
			}}
			if tc.policy != nil {
				mut = append(mut, tc.policy)
			}
			h := newHarness(t, mut...)
			h.tokens.ByHash[hashOf("good")] = authz.AccessToken{ProfileID: "p-bob", Profile: bob}
			in := req(tc.lines(h)...)
			bound := h.sessions.Has(testToken(1).Hash())
			d := h.decide(in)
			if d.Status != tc.status || d.Reason != tc.reason {
				t.Fatalf("got %d %s, want %d %s", d.Status, d.Reason, tc.status, tc.reason)
			}
			if bound && tc.deleted == h.sessions.Has(testToken(1).Hash()) {
				t.Errorf("session row deleted = %v, want %v", !h.sessions.Has(testToken(1).Hash()), tc.deleted)
			}
			if !d.Allow {
				return
			}
			c, set := d.Upstream("cookie")
			if tc.upstream == "" && (set || !slices.Contains(d.UpstreamRemove, "cookie")) {
				t.Errorf("upstream cookie = %q (removed: %v), want none", c, slices.Contains(d.UpstreamRemove, "cookie"))
			}
			if tc.upstream != "" && c != tc.upstream {
				t.Errorf("upstream cookie = %q, want %q", c, tc.upstream)
			}
			if len(d.SetCookies) != 0 {
				t.Errorf("an allowed credential request changed cookies: %v", d.SetCookies)
			}
		})
	}
}
