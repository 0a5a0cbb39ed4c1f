package authz_test

import (
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Two apps in one cookie scope (issue 12, item 8): after the first binding,
// the same person moving between them causes no re-key and no flush.
func TestSharedCookieScope(t *testing.T) {
	plane := appSpec{name: "plane", native: "plane_sid"}
	wiki := appSpec{name: "wiki", native: "wiki_sid"}
	match := func(app, id string) step {
		return step{app: app, who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: id}
	}
	// appSets is the app answering an allowed page load with its own
	// session cookie when it has none.
	appSets := func(b *site, name, value string) {
		if _, ok := b.jar[name]; !ok {
			b.set(name, value)
		}
	}

	t.Run("the issue's alternation", func(t *testing.T) {
		b := newSite(t, plane, wiki)
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		appSets(b, "plane_sid", "alice-plane")
		b.run(match("wiki", "p-alice"))
		appSets(b, "wiki_sid", "alice-wiki")
		for range 3 {
			b.run(match("plane", "p-alice"), match("wiki", "p-alice"))
		}
		if n := len(b.sessions.Rows); n != 1 {
			t.Fatalf("%d session rows after moving between two apps, want 1", n)
		}
		for name, want := range map[string]string{"plane_sid": "alice-plane", "wiki_sid": "alice-wiki"} {
			if b.jar[name] != want {
				t.Fatalf("%s = %q, want %q", name, b.jar[name], want)
			}
		}
	})

	t.Run("natives of unknown provenance go once, the token stays", func(t *testing.T) {
		b := newSite(t, plane, wiki)
		b.set("wiki_sid", "whoever-was-here")
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		tok := b.jar["extauthz_session"]
		d := b.visit("wiki", "alice@example.com")
		if d.Allow || d.Status != 302 || !expired(d, "wiki_sid") || expired(d, "extauthz_session") || expired(d, "plane_sid") {
			t.Fatalf("first visit of wiki with a wiki cookie from before the binding: %d %s %v", d.Status, d.Reason, d.SetCookies)
		}
		if _, issues := issued(d); issues {
			t.Fatalf("the shared binding was re-keyed: %v", d.SetCookies)
		}
		b.run(match("wiki", "p-alice"))
		appSets(b, "wiki_sid", "alice-wiki")
		b.run(match("plane", "p-alice"), match("wiki", "p-alice"))
		if b.jar["extauthz_session"] != tok {
			t.Fatal("the service cookie changed")
		}
	})

	t.Run("another person re-keys and flushes, in every app", func(t *testing.T) {
		b := newSite(t, plane, wiki)
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		appSets(b, "plane_sid", "alice-plane")
		b.run(match("wiki", "p-alice"))
		appSets(b, "wiki_sid", "alice-wiki")
		aliceTok := cookie.Token(b.jar["extauthz_session"])

		// Bob at wiki: Alice's binding goes, with wiki's cookie.
		b.run(step{app: "wiki", who: "bob@example.com", status: 302, reason: authz.ReasonIdentityChanged, profile: "p-bob", rekey: true, flush: true})
		if b.sessions.Has(aliceTok.Hash()) {
			t.Fatal("the previous person's session row survived the change (invariant 4)")
		}
		b.run(step{app: "wiki", who: "bob@example.com", allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "p-bob"})
		// Bob at plane, whose cookie is still Alice's: it goes before plane
		// sees Bob's profile id (invariant 2).
		d := b.visit("plane", "bob@example.com")
		if d.Allow || !expired(d, "plane_sid") {
			t.Fatalf("plane let Bob in beside Alice's plane cookie: %d %s %v", d.Status, d.Reason, d.SetCookies)
		}
		sent := b.header()
		d = b.visit("plane", "bob@example.com")
		if !d.Allow || d.ProfileID != "p-bob" || strings.Contains(receives(d, sent), "alice") {
			t.Fatalf("plane after the flush: %d %s %q, upstream cookie %q", d.Status, d.Reason, d.ProfileID, receives(d, sent))
		}
	})

	t.Run("a browser that keeps the expired cookie gets the loop guard's page", func(t *testing.T) {
		b := newSite(t, plane, wiki)
		b.set("wiki_sid", "whoever-was-here")
		b.refuse["wiki_sid"] = true
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		if d := b.visit("wiki", "alice@example.com"); d.Status != 302 {
			t.Fatalf("first visit: %d %s", d.Status, d.Reason)
		}
		if d := b.visit("wiki", "alice@example.com"); d.Allow || d.Reason != authz.ReasonFlushFailed {
			t.Fatalf("the kept cookie reached the app: %v %d %s", d.Allow, d.Status, d.Reason)
		}
	})

	t.Run("a profile source with other ids is never served another app's id", func(t *testing.T) {
		own := newProfiles(authz.Profile{ID: "penpot-alice", Email: "alice@example.com", Active: true})
		b := newSite(t, plane, appSpec{name: "penpot", source: own})
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		planeTok := cookie.Token(b.jar["extauthz_session"])
		b.run(step{app: "penpot", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "penpot-alice", rekey: true})
		if !b.sessions.Has(planeTok.Hash()) {
			t.Fatal("the same person's binding with another app was deleted")
		}
	})

	t.Run("an app with a shorter session_max_age does not take an older binding", func(t *testing.T) {
		b := newSite(t, plane, appSpec{name: "short", mutate: func(p *authz.Policy) { p.SessionMaxAge = time.Hour; p.RenewAfter = 0 }})
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		b.now = b.now.Add(2 * time.Hour)
		b.run(step{app: "short", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
	})

	t.Run("rows 4-5: no identity", func(t *testing.T) {
		b := newSite(t, plane, wiki)
		b.run(step{app: "plane", who: "alice@example.com", allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-alice", rekey: true})
		tok := cookie.Token(b.jar["extauthz_session"])
		// wiki never took the binding: nobody, and plane's binding stays.
		b.run(step{app: "wiki", allow: true, status: 200, reason: authz.ReasonAnonymous})
		if !b.sessions.Has(tok.Hash()) || b.jar["extauthz_session"] != string(tok) {
			t.Fatal("a request without identity on another app ended plane's binding")
		}
		b.run(match("plane", "p-alice"), match("wiki", "p-alice"))
		// Once wiki took it, it is wiki's session too.
		b.run(step{app: "wiki", allow: true, status: 200, reason: authz.ReasonSessionOnly, profile: "p-alice"})
	})
}

// A person registered through one app and unknown to another keeps the
// binding with the first when visiting the second: the denial flushes
// nothing of another app's (invariant 9 with a shared cookie scope).
func TestSharedCookieScopeUnknownElsewhere(t *testing.T) {
	const carol = "carol@example.com"
	deny := func(s authz.Reason) step { return step{app: "plane", who: carol, status: 401, reason: s} }
	t.Run("the same browser keeps its binding with the app that admits it", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: denyUnknowns}, appSpec{name: "open", mutate: registers})
		b.run(
			step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true},
			deny(authz.ReasonIdentityUnknown),
			step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "new-1"},
		)
	})

	t.Run("anonymous for unknowns: no profile id", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane"}, appSpec{name: "open", mutate: registers})
		b.run(
			step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true},
			step{app: "plane", who: carol, allow: true, status: 200, reason: authz.ReasonIdentityUnknown},
		)
	})

}
