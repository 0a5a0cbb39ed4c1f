package authz_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// site is several apps over one session store, and one browser whose
// cookie jar every app shares (one host routed by path, or a cookie domain
// common to all): what one app sets, the next app is sent.
type site struct {
	t        *testing.T
	eng      *authz.Engine
	sessions *authztest.Sessions
	builtin  *authztest.Profiles
	now      time.Time
	order    []string
	jar      map[string]string
	// refuse names cookies whose expiry the browser ignores.
	refuse map[string]bool
}

// appSpec is one app of a site test.
type appSpec struct {
	name   string
	native string // the app's own session cookie ("" none)
	mutate func(*authz.Policy)
	source authz.ProfileSource // nil: the shared built-in source
}

func newSite(t *testing.T, specs ...appSpec) *site {
	t.Helper()
	b := &site{
		t: t, sessions: newSessions(), builtin: newProfiles(alice, bob, blocked),
		now: t0, jar: map[string]string{}, refuse: map[string]bool{},
	}
	toks := &seqTokens{n: 500}
	var apps []authz.App
	for _, s := range specs {
		p := authz.DefaultPolicy(s.name)
		if s.native != "" {
			p.NativeCookies = []authz.NativeCookie{{Name: s.native, Path: "/"}}
		}
		if s.mutate != nil {
			s.mutate(&p)
		}
		src := s.source
		if src == nil {
			src = b.builtin
		}
		apps = append(apps, authz.App{Policy: p, Profiles: src})
	}
	eng, err := authz.New(authz.Config{Apps: apps, Sessions: b.sessions, Now: func() time.Time { return b.now }, NewToken: toks.next})
	if err != nil {
		t.Fatal(err)
	}
	b.eng = eng
	return b
}

func (b *site) set(name, value string) {
	if _, ok := b.jar[name]; !ok {
		b.order = append(b.order, name)
	}
	b.jar[name] = value
}

func (b *site) header() string {
	var parts []string
	for _, n := range b.order {
		parts = append(parts, n+"="+b.jar[n])
	}
	return strings.Join(parts, "; ")
}

// visit sends a page load of app as who ("" asserts nobody) and keeps the
// cookies the answer sets, as a browser does.
func (b *site) visit(app, who string) authz.Decision {
	b.t.Helper()
	in := authz.Input{App: app, Method: "GET", Path: "/page", Headers: authz.Headers{}}
	in.Headers.Add("accept", "text/html")
	if who != "" {
		in.Headers.Add("x-auth-request-email", who)
	}
	if h := b.header(); h != "" {
		in.Headers.Add("cookie", h)
		in.Cookies = cookie.Parse(h)
	}
	d := b.eng.Decide(context.Background(), in)
	for _, sc := range d.SetCookies {
		nv, attrs, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(nv, "=")
		if strings.Contains(attrs, "Max-Age=0") {
			if b.refuse[name] {
				continue
			}
			delete(b.jar, name)
			b.order = slices.DeleteFunc(b.order, func(n string) bool { return n == name })
			continue
		}
		b.set(name, value)
	}
	return d
}

// receives is the Cookie header the app receives on an allow.
func receives(d authz.Decision, sent string) string {
	if v, touched := upstreamCookie(d); touched {
		return v
	}
	return sent
}

type step struct {
	app, who string
	allow    bool
	status   int
	reason   authz.Reason
	profile  string
	// rekey: a new service cookie; flush: some cookie expired.
	rekey, flush bool
}

// run takes the steps in order, checking each answer.
func (b *site) run(steps ...step) {
	b.t.Helper()
	for i, s := range steps {
		d := b.visit(s.app, s.who)
		_, issues := issued(d)
		anyExpiry := slices.ContainsFunc(d.SetCookies, func(c string) bool { return strings.Contains(c, "Max-Age=0") })
		if d.Allow != s.allow || d.Status != s.status || d.Reason != s.reason || d.ProfileID != s.profile ||
			issues != s.rekey || anyExpiry != s.flush {
			b.t.Fatalf("step %d (%s as %q): got allow=%v %d %s profile=%q rekey=%v flush=%v, want allow=%v %d %s profile=%q rekey=%v flush=%v\nSet-Cookie: %v",
				i, s.app, s.who, d.Allow, d.Status, d.Reason, d.ProfileID, issues, anyExpiry,
				s.allow, s.status, s.reason, s.profile, s.rekey, s.flush, d.SetCookies)
		}
	}
}

func denyUnknowns(p *authz.Policy) {
	p.AutoRegister = false
	p.OnUnknownIdentity = authz.UnknownDeny
}

func registers(p *authz.Policy) { p.AutoRegister = true }

// Invariant 9: no app's setting changes who another app admits. A person
// auto-registered through one app stays unknown to an app that denies
// unknowns (issue 12, item 2).
func TestInvariantOneAppsRegistrationAdmitsNobodyElsewhere(t *testing.T) {
	const carol = "carol@example.com"
	deny := func(s authz.Reason) step { return step{app: "plane", who: carol, status: 401, reason: s} }

	t.Run("the issue's sequence, fresh browsers", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: denyUnknowns}, appSpec{name: "open", mutate: registers})
		b.run(deny(authz.ReasonIdentityUnknown))
		b.run(step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true})
		fresh := freshSite(b)
		fresh.run(deny(authz.ReasonIdentityUnknown))
	})

	t.Run("a pass-through credential with the identity", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: func(p *authz.Policy) {
			denyUnknowns(p)
			p.Credentials = []authz.Credential{{Header: "x-api-key", Mode: authz.CredentialPassThrough}}
		}}, appSpec{name: "open", mutate: registers})
		b.run(step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true})
		in := req(email(carol), "x-api-key: k", "cookie: extauthz_session="+b.jar["extauthz_session"])
		in.App = "plane"
		if d := b.eng.Decide(context.Background(), in); d.Status != 401 || d.Reason != authz.ReasonIdentityUnknown || len(d.SetCookies) != 0 {
			t.Fatalf("pass-through as a person registered through another app: %d %s %v", d.Status, d.Reason, d.SetCookies)
		}
		b.run(step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonSessionMatch, profile: "new-1"})
	})

	t.Run("an operator's adoption admits everywhere", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: denyUnknowns}, appSpec{name: "open", mutate: registers})
		b.run(step{app: "open", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true})
		p := b.builtin.Get(carol)
		if p.RegisteredBy != "open" {
			t.Fatalf("registered profile records %q, want the app open", p.RegisteredBy)
		}
		p.RegisteredBy = ""
		b.builtin.ByEmail[carol] = p
		freshSite(b).run(step{app: "plane", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "new-1", rekey: true})
	})

	t.Run("an app knows whom it registered itself", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: denyUnknowns})
		b.builtin.ByEmail[carol] = authz.Profile{ID: "p-carol", Email: carol, Active: true, RegisteredBy: "plane"}
		b.run(step{app: "plane", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-carol", rekey: true})
	})

	t.Run("an app that registers admits whom another registered", func(t *testing.T) {
		b := newSite(t, appSpec{name: "wiki", mutate: registers})
		b.builtin.ByEmail[carol] = authz.Profile{ID: "p-carol", Email: carol, Active: true, RegisteredBy: "open"}
		b.run(step{app: "wiki", who: carol, allow: true, status: 200, reason: authz.ReasonRekey, profile: "p-carol", rekey: true})
		if got := b.builtin.Get(carol).RegisteredBy; got != "open" {
			t.Fatalf("registered_by changed to %q", got)
		}
	})

	t.Run("row 4: a session's profile registered elsewhere", func(t *testing.T) {
		b := newSite(t, appSpec{name: "plane", mutate: denyUnknowns})
		b.builtin.ByEmail[carol] = authz.Profile{ID: "p-carol", Email: carol, Active: true, RegisteredBy: "open"}
		tok := testToken(1)
		b.sessions.Rows[tok.Hash()] = authz.Session{Hash: tok.Hash(), ProfileID: "p-carol", IdentityKey: "email:" + carol,
			Email: carol, App: "plane", CreatedAt: b.now, RenewedAt: b.now, ExpiresAt: b.now.Add(time.Hour)}
		b.set("extauthz_session", string(tok))
		d := b.visit("plane", "")
		if d.ProfileID != "" || d.Reason == authz.ReasonSessionOnly {
			t.Fatalf("identity absent: a profile registered through another app was served: %s %q", d.Reason, d.ProfileID)
		}
	})
}

// freshSite is a new browser (empty jar) on b's engine and stores.
func freshSite(b *site) *site {
	c := *b
	c.jar, c.order, c.refuse = map[string]string{}, nil, map[string]bool{}
	return &c
}
