package blackbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// penpotDB creates a Penpot-shaped profile table in its own database.
func penpotDB(t *testing.T) (url string, ids map[string]string) {
	t.Helper()
	url = pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `
CREATE TABLE profile (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE,
    fullname text NOT NULL DEFAULT '', is_active boolean NOT NULL DEFAULT false,
    is_blocked boolean NOT NULL DEFAULT false, deleted_at timestamptz NULL);
INSERT INTO profile (email, fullname, is_active) VALUES
  ('alice@example.com', 'Alice', true), ('bob@example.com', 'Bob', true);`); err != nil {
		t.Fatal(err)
	}
	ids = map[string]string{}
	rows, err := conn.Query(context.Background(), `SELECT email, id::text FROM profile`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e, id string
		if err := rows.Scan(&e, &id); err != nil {
			t.Fatal(err)
		}
		ids[e] = id
	}
	return url, ids
}

// TestTwoAppsPersonChanges is issue #3's story over real gRPC and real
// PostgreSQL: two apps with their own native cookies and profile sources.
func TestTwoAppsPersonChanges(t *testing.T) {
	db := pgtest.URL(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, env, "migrate")
	builtin := map[string]string{}
	for _, e := range []string{"alice@example.com", "bob@example.com"} {
		builtin[e] = strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", e))
	}
	penpotURL, penpotIDs := penpotDB(t)

	svc := harness.Start(t, harness.Options{DatabaseURL: db, Config: fmt.Sprintf(`
apps:
  penpot:
    native_cookies:
      - {name: auth-token, domain: design.example.com, path: /}
    credentials:
      - {header: authorization, scheme: Token, mode: pass_through}
    profile_source:
      kind: sql
      database_url: %q
      query: SELECT id::text, is_active, is_blocked FROM profile WHERE email = $1 AND deleted_at IS NULL
  plane:
    native_cookies:
      - {name: session-id, path: /api}
    bypass: [/god-mode, /api/instances]
    credentials:
      - {header: x-api-key, mode: pass_through}
`, penpotURL)})

	type app struct {
		name, host, native string
		ids                map[string]string
		expiry             string // the exact expiry the app's cookie needs
		jar                *harness.Jar
	}
	apps := []*app{
		{name: "penpot", host: "design.example.com", native: "auth-token", ids: penpotIDs, jar: harness.NewJar(),
			expiry: "auth-token=; Path=/; Domain=design.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"},
		{name: "plane", host: "issues.example.com", native: "session-id", ids: builtin, jar: harness.NewJar(),
			expiry: "session-id=; Path=/api; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"},
	}
	nav := func(a *app, who string) harness.Request {
		return harness.Request{App: a.name, Host: a.host, Path: "/dashboard?x=1", Cookie: a.jar.Header(), Headers: map[string]string{
			"x-auth-request-email": who, "accept": "text/html", "sec-fetch-mode": "navigate",
		}}
	}

	// User A signs in to both apps; each app then sets its own cookie.
	for _, a := range apps {
		r := check(t, svc, nav(a, "alice@example.com"))
		want(t, a.name+": A signs in", r, true, 200, "rekey", a.ids["alice@example.com"])
		a.jar.Apply(r.SetCookies)
		a.jar.Set(a.native, "alice-"+a.name+"-session")
		r = check(t, svc, nav(a, "alice@example.com"))
		want(t, a.name+": A steady", r, true, 200, "session_match", a.ids["alice@example.com"])
		if !strings.Contains(r.Upstream["cookie"], a.native+"=alice-") && r.Upstream["cookie"] != "" {
			t.Fatalf("%s: steady state must pass the app's own cookie: %q", a.name, r.Upstream["cookie"])
		}
	}

	// The person changes to B: each app gets a flush expiring exactly its
	// own cookie with its Domain/Path, plus B's new session.
	for _, a := range apps {
		r := check(t, svc, nav(a, "bob@example.com"))
		want(t, a.name+": person changes", r, false, 302, "identity_changed", "")
		if r.Response["location"] != "/dashboard?x=1" || r.Response["clear-site-data"] != `"cache", "storage"` {
			t.Fatalf("%s: flush response headers %v", a.name, r.Response)
		}
		if !slices.Contains(r.SetCookies, a.expiry) {
			t.Fatalf("%s: want %q among %v", a.name, a.expiry, r.SetCookies)
		}
		for _, other := range apps {
			if other != a && r.Expires(other.native) {
				t.Fatalf("%s: expired another app's cookie %s", a.name, other.native)
			}
		}
		if r.SessionToken(sessionCookie) == "" {
			t.Fatalf("%s: no new session with the flush: %v", a.name, r.SetCookies)
		}
		a.jar.Apply(r.SetCookies)
		// The next request is steady state as B, with no app cookie of A's.
		r = check(t, svc, nav(a, "bob@example.com"))
		want(t, a.name+": B steady", r, true, 200, "session_match", a.ids["bob@example.com"])
		if strings.Contains(r.Upstream["cookie"], "alice") {
			t.Fatalf("%s: A's app cookie reached the app: %q", a.name, r.Upstream["cookie"])
		}
		a.jar.Set(a.native, "bob-"+a.name+"-session")
	}

	// An API-key request whose SSO identity does not match is never flushed.
	plane := apps[1]
	r := check(t, svc, harness.Request{App: "plane", Host: plane.host, Path: "/api/v1/issues", Cookie: plane.jar.Header(),
		Headers: map[string]string{"x-api-key": "plane_api_123", "x-auth-request-email": "alice@example.com"}})
	want(t, "api key", r, true, 200, "credential_passthrough", "")
	if len(r.SetCookies) != 0 {
		t.Fatalf("api-key request changed cookies: %v", r.SetCookies)
	}
	r = check(t, svc, nav(plane, "bob@example.com"))
	want(t, "B still steady after the api call", r, true, 200, "session_match", builtin["bob@example.com"])

	// A bypass path reaches the upstream with spoofed headers stripped.
	r = check(t, svc, harness.Request{App: "plane", Host: plane.host, Path: "/god-mode/settings",
		Headers: map[string]string{"x-profile-id": builtin["alice@example.com"], "x-auth-request-email": "bob@example.com"}})
	want(t, "bypass", r, true, 200, "bypass", "")
	if !slices.Contains(r.Removed, "x-profile-id") {
		t.Fatalf("bypass kept a spoofed x-profile-id: removed=%v", r.Removed)
	}
	// Dot segments do not escape into a protected path.
	r = check(t, svc, harness.Request{App: "plane", Host: plane.host, Path: "/god-mode/%2e%2e/api/secrets",
		Headers: map[string]string{"x-auth-request-email": "bob@example.com"}, Cookie: plane.jar.Header()})
	if r.Reason() == "bypass" {
		t.Fatal("/god-mode/%2e%2e/ escaped the bypass")
	}
}
