package blackbox

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestRowsOverGRPC plays each row of the decision table once more against
// the real binary and a real PostgreSQL, with two apps whose policies differ.
func TestRowsOverGRPC(t *testing.T) {
	db := pgtest.URL(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, env, "migrate")
	alice := strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", "alice@example.com"))
	harness.CLI(t, env, "profile", "add", "--email", "retired@example.com", "--inactive")
	harness.CLI(t, env, "profile", "add", "--email", "mallory@example.com", "--blocked")

	svc := harness.Start(t, harness.Options{DatabaseURL: db, Config: `
apps:
  default:
    credentials:
      - {header: authorization, scheme: Token, mode: validate}
  strict:
    auto_register: true
    on_missing_identity: deny
    on_unknown_identity: deny
`})
	r := check(t, svc, harness.Request{Headers: email("alice@example.com")})
	tok := r.SessionToken(sessionCookie)

	rows := []struct {
		name    string
		req     harness.Request
		allow   bool
		status  int
		reason  string
		profile string
	}{
		{"3 malformed", harness.Request{Headers: email("not an email")}, false, 400, "identity_malformed", ""},
		{"3 ambiguous (map)", harness.Request{Headers: email("alice@example.com,bob@example.com")}, false, 400, "identity_malformed", ""},
		{"4 session only", harness.Request{Cookie: cookieOf(tok)}, true, 200, "session_only", alice},
		{"4 session only, deny policy", harness.Request{App: "strict", Cookie: cookieOf(tok)}, false, 401, "identity_missing", ""},
		{"5 anonymous", harness.Request{}, true, 200, "anonymous", ""},
		{"5 deny policy", harness.Request{App: "strict"}, false, 401, "identity_missing", ""},
		{"8 auto-register", harness.Request{App: "strict", Headers: email("new@example.com")}, true, 200, "rekey", "*"},
		{"9 unknown, anonymous", harness.Request{Headers: email("nobody@example.com")}, true, 200, "identity_unknown", ""},
		{"10 blocked", harness.Request{Headers: email("mallory@example.com")}, false, 403, "profile_blocked", ""},
		{"10 inactive", harness.Request{Headers: email("retired@example.com")}, false, 403, "profile_inactive", ""},
		{"11 match", harness.Request{Headers: email("alice@example.com"), Cookie: cookieOf(tok)}, true, 200, "session_match", alice},
		{"12 forged cookie", harness.Request{Headers: email("alice@example.com"), Cookie: cookieOf("v1.forged")}, true, 200, "rekey", alice},
		{"unknown app", harness.Request{App: "nope", Headers: email("alice@example.com")}, false, 503, "misconfigured", ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			got := check(t, svc, row.req)
			profile := row.profile
			if profile == "*" {
				profile = got.Upstream["x-profile-id"]
				if len(profile) != 36 {
					t.Fatalf("auto-registered profile id %q", profile)
				}
			}
			want(t, row.name, got, row.allow, row.status, row.reason, profile)
		})
	}

	// Rows 1–2: an access token issued on the command line; shown once,
	// valid until revoked, never touching cookies.
	tokArgs := []string{"token", "create", "--email", "alice@example.com", "--name", "ci", "--expires", "30d"}
	access := strings.TrimSpace(harness.CLI(t, env, tokArgs...))
	if !strings.HasPrefix(access, "xat_") {
		t.Fatalf("token create printed %q", access)
	}
	bearer := map[string]string{"authorization": "Token " + access, "x-auth-request-email": "mallory@example.com"}
	got := check(t, svc, harness.Request{Headers: bearer, Cookie: cookieOf(tok)})
	want(t, "1 access token", got, true, 200, "access_token", alice)
	if len(got.SetCookies) != 0 {
		t.Fatalf("access token request changed cookies: %v", got.SetCookies)
	}
	harness.CLI(t, env, "token", "revoke", "--token", access)
	got = pollCheck(t, svc, harness.Request{Headers: bearer}, func(r harness.Result) bool { return !r.Allow })
	want(t, "2 revoked token", got, false, 401, "access_token_invalid", "")
	got = check(t, svc, harness.Request{Headers: map[string]string{"authorization": "Token xat_forged"}})
	want(t, "2 forged token", got, false, 401, "access_token_invalid", "")

	// Row 8 is idempotent: the registered profile is the one resolved next.
	first := check(t, svc, harness.Request{App: "strict", Headers: email("twice@example.com")})
	second := check(t, svc, harness.Request{App: "strict", Headers: email("twice@example.com"),
		Cookie: cookieOf(first.SessionToken(sessionCookie))})
	want(t, "8 then 11", second, true, 200, "session_match", first.Upstream["x-profile-id"])

	// The operator's verbs (the admin API's code path): list, revoke, and
	// the revoked cookie no longer binds.
	list := harness.CLI(t, env, "session", "list", "--email", "alice@example.com")
	if !strings.Contains(list, "default") || strings.Count(list, "\n") < 2 {
		t.Fatalf("session list:\n%s", list)
	}
	if out := harness.CLI(t, env, "session", "revoke", "--profile", alice); !strings.HasPrefix(out, "revoked ") || strings.HasPrefix(out, "revoked 0 ") {
		t.Fatalf("session revoke: %q", out)
	}
	got = pollCheck(t, svc, harness.Request{Headers: email("alice@example.com"), Cookie: cookieOf(tok)},
		func(r harness.Result) bool { return r.Reason() != "session_match" })
	want(t, "revoked session", got, true, 200, "rekey", alice)
	if _, errOut, err := harness.TryCLI(t, env, "session", "list", "--email", "nobody@example.com"); err == nil || !strings.Contains(errOut, "not found") {
		t.Fatalf("session list of an unknown profile: %v %q", err, errOut)
	}

	// Row 7: a permanent store error (the schema is gone) is a 500 that
	// flushes nothing.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `ALTER TABLE extauthz_profiles RENAME TO extauthz_profiles_gone`); err != nil {
		t.Fatal(err)
	}
	got = check(t, svc, harness.Request{Headers: email("someone-new@example.com"), Cookie: cookieOf(tok)})
	want(t, "7 lookup error", got, false, 500, "lookup_error", "")
	if len(got.SetCookies) != 0 {
		t.Fatalf("a lookup error changed cookies: %v", got.SetCookies)
	}
}
