package authz_test

import (
	"slices"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Invariant 1: the upstream never sees a client-supplied owned header.
func TestInvariantOwnedHeadersNeverPassThrough(t *testing.T) {
	inputs := map[string]func(h *harness) authz.Input{
		"anonymous":      func(h *harness) authz.Input { return req() },
		"unknown":        func(h *harness) authz.Input { return req(email("stranger@example.com")) },
		"rekey":          func(h *harness) authz.Input { return req(email("alice@example.com")) },
		"steady":         func(h *harness) authz.Input { return req(email("alice@example.com"), sessCookie(h.bind(1, alice))) },
		"session only":   func(h *harness) authz.Input { return req(sessCookie(h.bind(1, alice))) },
		"changed":        func(h *harness) authz.Input { return req(email("bob@example.com"), sessCookie(h.bind(1, alice))) },
		"passthrough":    func(h *harness) authz.Input { return req("x-api-key: k") },
		"bypass":         func(h *harness) authz.Input { in := req(); in.Path = "/public/x"; return in },
		"access token":   func(h *harness) authz.Input { return req("authorization: Token good") },
		"blocked (deny)": func(h *harness) authz.Input { return req(email("mallory@example.com")) },
	}
	for name, mk := range inputs {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(p *authz.Policy) {
				p.BypassPrefixes = []string{"/public"}
				p.OwnedHeaders = []string{"x-extauthz-user"}
				p.Credentials = []authz.Credential{
					{Header: "authorization", Scheme: "Token", Mode: authz.CredentialValidate},
					{Header: "x-api-key", Mode: authz.CredentialPassThrough},
				}
			})
			h.tokens.ByHash[hashOf("good")] = authz.AccessToken{ProfileID: "p-alice", Profile: alice}
			in := mk(h)
			in.Headers.Add("x-profile-id", "p-admin")
			in.Headers.Add("x-extauthz-user", "admin")
			d := h.decide(in)
			if !d.Allow {
				return // nothing reaches the upstream
			}
			v, set := d.Upstream("x-profile-id")
			switch {
			case set && (v == "p-admin" || v != d.ProfileID || v == ""):
				t.Errorf("upstream x-profile-id = %q (profile %q)", v, d.ProfileID)
			case !set && !slices.Contains(d.UpstreamRemove, "x-profile-id"):
				t.Errorf("client x-profile-id neither overwritten nor removed: %+v", d)
			}
			if !slices.Contains(d.UpstreamRemove, "x-extauthz-user") {
				t.Errorf("owned header not stripped: %v", d.UpstreamRemove)
			}
		})
	}
}

// Invariants 2 and 4: after the person changes, replaying the previous
// person's cookie never yields the previous person, with or without an
// asserted identity.
func TestInvariantReplayAfterChangeNeverYieldsOldIdentity(t *testing.T) {
	h := newHarness(t)
	aliceTok := h.bind(1, alice)
	d := h.decide(req(email("bob@example.com"), sessCookie(aliceTok)))
	if d.Reason != authz.ReasonIdentityChanged || d.ProfileID != "p-bob" {
		t.Fatalf("switch: %s %s", d.Reason, d.ProfileID)
	}
	for _, in := range []authz.Input{
		req(sessCookie(aliceTok)),
		req(email("bob@example.com"), sessCookie(aliceTok)),
	} {
		d := h.decide(in)
		if d.ProfileID == "p-alice" {
			t.Fatalf("replayed cookie yielded alice: %+v", d)
		}
	}
	if d := h.decide(req(sessCookie(aliceTok))); d.Reason != authz.ReasonAnonymous || !expired(d, "extauthz_session") {
		t.Fatalf("replay without identity: %s %v", d.Reason, d.SetCookies)
	}
}

// Invariant 3: a transient failure never logs anybody out and never
// switches identity, on any row that touches a store.
func TestInvariantTransientNeverLogsOut(t *testing.T) {
	for _, fail := range []string{"profiles", "sessions", "writes"} {
		for _, mk := range []func(h *harness) authz.Input{
			func(h *harness) authz.Input { return req(email("alice@example.com"), sessCookie(h.bind(1, alice))) },
			func(h *harness) authz.Input { return req(email("bob@example.com"), sessCookie(h.bind(1, alice))) },
			func(h *harness) authz.Input { return req(email("stranger@example.com"), sessCookie(h.bind(1, alice))) },
			func(h *harness) authz.Input { return req(email("mallory@example.com"), sessCookie(h.bind(1, alice))) },
			func(h *harness) authz.Input { return req(sessCookie(h.bind(1, alice))) },
		} {
			h := newHarness(t)
			in := mk(h)
			h.now = h.now.Add(7 * time.Hour) // renewal due, too
			switch fail {
			case "profiles":
				h.profiles.Err = authz.ErrUnavailable
			case "sessions":
				h.sessions.Err = authz.ErrUnavailable
			case "writes":
				h.sessions.WriteErr = authz.ErrUnavailable
			}
			d := h.decide(in)
			for _, c := range d.SetCookies {
				t.Errorf("%s: Set-Cookie during a fault: %s (%s)", fail, c, d.Reason)
			}
			if !h.sessions.Has(testToken(1).Hash()) {
				t.Errorf("%s: session deleted during a fault (%s)", fail, d.Reason)
			}
			if d.Allow && d.ProfileID != "" && d.ProfileID != "p-alice" {
				t.Errorf("%s: identity switched to %s during a fault", fail, d.ProfileID)
			}
			if !d.Allow && d.Status != 503 {
				t.Errorf("%s: deny %d %s, want 503", fail, d.Status, d.Reason)
			}
		}
	}
}

// Invariant 5: a renewal never overwrites a re-key cookie and never happens
// on a deny.
func TestInvariantRenewal(t *testing.T) {
	h := newHarness(t)
	tok := h.bind(1, alice)
	h.now = h.now.Add(7 * time.Hour)
	d := h.decide(req(email("bob@example.com"), sessCookie(tok)))
	if d.Renewed || len(d.SetCookies) != 1 {
		t.Fatalf("re-key with renewal: %+v", d.SetCookies)
	}
	h2 := newHarness(t, func(p *authz.Policy) { p.OnMissingIdentity = authz.MissingDeny })
	tok = h2.bind(1, alice)
	h2.now = h2.now.Add(7 * time.Hour)
	d = h2.decide(req(sessCookie(tok)))
	if d.Allow || d.Renewed || len(d.SetCookies) != 0 || slices.Contains(h2.sessions.Calls, "renew") {
		t.Fatalf("deny renewed: %+v", d)
	}
}

func TestHeaderNamesCoverWhatDecisionsRead(t *testing.T) {
	h := newHarness(t, func(p *authz.Policy) {
		p.Credentials = []authz.Credential{{Header: "x-api-key", Mode: authz.CredentialPassThrough}}
	})
	names := h.eng.HeaderNames()
	for _, n := range []string{"x-auth-request-email", "x-auth-request-user", "x-auth-request-preferred-username",
		"x-api-key", "cookie", "accept", "upgrade", "sec-fetch-mode", "x-request-id"} {
		if !names[n] {
			t.Errorf("HeaderNames lacks %s", n)
		}
	}
}
