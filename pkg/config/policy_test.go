package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extauthz/extauthz/pkg/authz"
)

// TestPoliciesThreeApps: the Penpot / Plane / Outline example in
// testdata/apps.yaml becomes these policies.
func TestPoliciesThreeApps(t *testing.T) {
	c := mustParse(t, "", nil, "--config", "testdata/apps.yaml")

	base := func(app string) authz.Policy {
		p := authz.DefaultPolicy(app)
		p.OwnedHeaders = []string{"x-profile-id"}
		return p
	}
	penpot := base("penpot")
	penpot.NativeCookies = []authz.NativeCookie{{Name: "auth-token", Path: "/", Secure: true}}
	penpot.BypassPrefixes = []string{"/js", "/fonts", "/images"}
	penpot.Credentials = []authz.Credential{{Header: "authorization", Scheme: "Token", Mode: authz.CredentialPassThrough}}

	plane := base("plane")
	plane.NativeCookies = []authz.NativeCookie{{Name: "session-id", Path: "/", Secure: true}}
	plane.BypassPrefixes = []string{"/god-mode", "/api/instances"}
	plane.Credentials = []authz.Credential{{Header: "x-api-key", Mode: authz.CredentialPassThrough}}

	outline := base("outline")
	outline.NativeCookies = []authz.NativeCookie{{Name: "accessToken", Path: "/", Secure: true}}
	outline.Credentials = []authz.Credential{{Header: "authorization", Scheme: "Bearer", Prefix: "ol_api_", Mode: authz.CredentialPassThrough}}
	outline.SessionMaxAge = 7 * 24 * time.Hour
	outline.MaxSetCookies = 1

	want := []authz.Policy{base("default"), outline, penpot, plane}
	if diff := cmp.Diff(want, c.Policies()); diff != "" {
		t.Errorf("Policies() (-want +got):\n%s", diff)
	}

	src := c.AppSource("penpot")
	wantSrc := ProfileSource{
		Kind:        SourceSQL,
		DatabaseURL: "postgres://extauthz_ro@penpot-db:5432/penpot",
		Query:       "SELECT id::text, is_active, is_blocked FROM profile WHERE email = $1 AND deleted_at IS NULL",
		MaxConns:    4,
		Timeout:     100 * time.Millisecond,
	}
	if diff := cmp.Diff(wantSrc, src); diff != "" {
		t.Errorf("AppSource(penpot) (-want +got):\n%s", diff)
	}
	if s := c.AppSource("plane"); s.MaxConns != DefaultSourceMaxConns || s.Timeout != c.LookupTimeout {
		t.Errorf("AppSource(plane) defaults not filled: %+v", s)
	}
	if s := c.AppSource("outline"); !strings.HasPrefix(s.Query, `SELECT id::text, true, "suspendedAt" IS NOT NULL FROM users`) {
		t.Errorf("AppSource(outline).Query = %q", s.Query)
	}
}

// TestExampleInStep: the commented example for users yields the same
// policies and sources as the test fixture.
func TestExampleInStep(t *testing.T) {
	fixture := mustParse(t, "", nil, "--config", "testdata/apps.yaml")
	example := mustParse(t, "", nil, "--config", "../../deploy/examples/apps.yaml")
	if diff := cmp.Diff(fixture.Policies(), example.Policies()); diff != "" {
		t.Errorf("deploy/examples/apps.yaml and testdata/apps.yaml disagree (-testdata +example):\n%s", diff)
	}
	for _, app := range fixture.AppNames() {
		if diff := cmp.Diff(fixture.AppSource(app), example.AppSource(app)); diff != "" {
			t.Errorf("profile source of %s differs (-testdata +example):\n%s", app, diff)
		}
	}
}

// TestAppOverrides: an app's explicit false, 0 or "" beats a top-level
// default; unset keys inherit.
func TestAppOverrides(t *testing.T) {
	c := mustParse(t, `
auto_register: true
max_set_cookies: 2
reason_header: X-Why
owned_headers: [X-Roles]
cookie: {name: top, domain: example.com, secure: true}
apps:
  quiet:
    auto_register: false
    max_set_cookies: 0
    reason_header: ""
    owned_headers: []
    cookie: {secure: false, domain: ""}
  loud:
    on_unknown_identity: deny
  default:
    flush_mode: inline
`, nil)
	got := map[string]authz.Policy{}
	for _, p := range c.Policies() {
		got[p.App] = p
	}
	if len(got) != 3 {
		t.Fatalf("want 3 policies, got %v", c.AppNames())
	}
	q, l, d := got["quiet"], got["loud"], got["default"]
	eq(t, "quiet.AutoRegister", q.AutoRegister, false)
	eq(t, "quiet.MaxSetCookies", q.MaxSetCookies, 0)
	eq(t, "quiet.ReasonHeader", q.ReasonHeader, "")
	eq(t, "quiet.OwnedHeaders", strings.Join(q.OwnedHeaders, ","), "x-profile-id")
	eq(t, "quiet.Cookie", q.Cookie, authz.CookieSpec{Name: "top", Path: "/", Secure: false, SameSite: "Lax"})
	eq(t, "loud.AutoRegister", l.AutoRegister, true)
	eq(t, "loud.MaxSetCookies", l.MaxSetCookies, 2)
	eq(t, "loud.ReasonHeader", l.ReasonHeader, "x-why")
	eq(t, "loud.OwnedHeaders", strings.Join(l.OwnedHeaders, ","), "x-roles,x-profile-id")
	eq(t, "loud.OnUnknownIdentity", l.OnUnknownIdentity, authz.UnknownDeny)
	eq(t, "loud.Cookie.Domain", l.Cookie.Domain, "example.com")
	eq(t, "default.FlushMode", d.FlushMode, authz.FlushInline)
	eq(t, "loud.FlushMode", l.FlushMode, authz.FlushRedirect)
	eq(t, "default.AutoRegister", d.AutoRegister, true)
}

// TestYAMLAnchors: anchors and merge keys work and are still checked.
func TestYAMLAnchors(t *testing.T) {
	c := mustParse(t, `
apps:
  a: &base
    flush_mode: inline
    native_cookies: [{name: sid}]
  b:
    <<: *base
    auto_register: true
`, nil)
	for _, p := range c.Policies()[1:] {
		eq(t, p.App+".FlushMode", p.FlushMode, authz.FlushInline)
		eq(t, p.App+".NativeCookies", len(p.NativeCookies), 1)
	}
	_, err := parse(t, "apps:\n  a: &base {flush_mod: inline}\n  b: {<<: *base}\n", map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "apps.a.flush_mod: unknown key") {
		t.Errorf("err = %v", err)
	}
}
