package ops_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// The operator's verbs of the real binary on a real PostgreSQL: each verb
// of `extauthz profile|session|token` once, its output format as scripts
// and the README rely on it, and what it changed as the service sees it.

// cliWorld is a migrated database, a service deciding on it, and the
// environment that points the CLI at it.
type cliWorld struct {
	env []string
	svc *harness.Service
}

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	db := pgtest.URL(t)
	w := &cliWorld{env: []string{"EXTAUTHZ_DATABASE_URL=" + db}}
	harness.CLI(t, w.env, "migrate")
	w.svc = harness.Start(t, harness.Options{DatabaseURL: db, Config: `
log: {format: json}
cookie: {secure: false}
apps:
  default:
    credentials:
      - {header: authorization, scheme: Token, mode: validate}
`})
	return w
}

// cli runs a verb that must succeed and returns its stdout and stderr.
func (w *cliWorld) cli(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := harness.TryCLI(t, w.env, args...)
	if err != nil {
		t.Fatalf("extauthz %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// fails runs a verb that must fail with exit code and mention want.
func (w *cliWorld) fails(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	_, errOut, err := harness.TryCLI(t, w.env, args...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != code || !strings.Contains(errOut, want) {
		t.Errorf("extauthz %s: %v, stderr %q; want exit %d mentioning %q", strings.Join(args, " "), err, errOut, code, want)
	}
}

// signIn checks a first request of email until it is re-keyed (a profile
// change made a moment ago by the CLI reaches the service's caches through
// the change feed) and returns its session cookie.
func (w *cliWorld) signIn(t *testing.T, email string) string {
	t.Helper()
	var res harness.Result
	eventually(t, 10*time.Second, "sign-in of "+email, func() bool {
		r, err := w.svc.Check(ctxTimeout(t, 10*time.Second), harness.Request{Headers: map[string]string{"x-auth-request-email": email}})
		if err != nil {
			t.Fatal(err)
		}
		res = harness.Read(r)
		return res.Reason() == "rekey"
	})
	return "extauthz_session=" + res.SessionToken("extauthz_session")
}

// reason polls the service until the decision for r has reason want (the
// change feed reaches the service's caches within milliseconds).
func (w *cliWorld) reason(t *testing.T, r harness.Request, want string) {
	t.Helper()
	var got string
	eventually(t, 10*time.Second, "reason "+want, func() bool {
		resp, err := w.svc.Check(ctxTimeout(t, 10*time.Second), r)
		if err != nil {
			t.Fatal(err)
		}
		got = harness.Read(resp).Reason()
		return got == want
	})
}

// sessionRows counts the rows `session list` prints below its header.
func (w *cliWorld) sessionRows(t *testing.T, email string) int {
	t.Helper()
	out, _ := w.cli(t, "session", "list", "--email", email)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "HASH (PREFIX)") {
		t.Fatalf("session list header: %q", out)
	}
	return len(lines) - 1
}

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)

func TestCLIProfileVerbs(t *testing.T) {
	w := newCLIWorld(t)

	out, _ := w.cli(t, "profile", "add", "--email", " Carol@Example.com ", "--name", "Carol")
	if !uuidLine.MatchString(out) {
		t.Fatalf("profile add printed %q, want the id alone", out)
	}
	carol := strings.TrimSpace(out)
	w.cli(t, "profile", "add", "--email", "dave@example.com", "--inactive", "--blocked")
	out, _ = w.cli(t, "profile", "list")
	lines := strings.Split(out, "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID EMAIL NAME ACTIVE BLOCKED DELETED" ||
		strings.Join(strings.Fields(lines[1]), " ") != carol+" carol@example.com Carol true false false" ||
		!strings.HasSuffix(strings.Join(strings.Fields(lines[2]), " "), "dave@example.com false true false") {
		t.Fatalf("profile list:\n%s", out)
	}

	line := func(active, blocked, deleted string) string {
		return carol + "\tcarol@example.com\tactive=" + active + "\tblocked=" + blocked + "\tdeleted=" + deleted + "\n"
	}
	steps := []struct {
		verb    string
		want    string
		revokes bool   // the verb revokes carol's sessions
		reason  string // what carol's old cookie then gets
	}{
		{"block", line("true", "true", "false"), true, "profile_blocked"},
		{"unblock", line("true", "false", "false"), false, "rekey"},
		{"deactivate", line("false", "false", "false"), true, "profile_inactive"},
		{"activate", line("true", "false", "false"), false, "rekey"},
		{"delete", line("true", "false", "true"), true, "profile_inactive"},
	}
	for _, s := range steps {
		var cookie string
		if s.revokes {
			cookie = w.signIn(t, "carol@example.com")
		}
		out, errOut := w.cli(t, "profile", s.verb, "--email", "carol@example.com")
		if out != s.want {
			t.Errorf("profile %s printed %q, want %q", s.verb, out, s.want)
		}
		if got := strings.Contains(errOut, "revoked 1 session(s)"); got != s.revokes {
			t.Errorf("profile %s: stderr %q, revoked a session: %t, want %t", s.verb, errOut, got, s.revokes)
		}
		if n := w.sessionRows(t, "carol@example.com"); n != 0 {
			t.Errorf("after profile %s: %d session(s) left", s.verb, n)
		}
		if s.revokes {
			w.reason(t, harness.Request{Headers: map[string]string{"x-auth-request-email": "carol@example.com"}, Cookie: cookie}, s.reason)
		}
	}

	// A duplicate says so once, not once per layer.
	if _, errOut, err := harness.TryCLI(t, w.env, "profile", "add", "--email", "carol@example.com"); err == nil ||
		errOut != "extauthz: profile add: email already exists\n" {
		t.Errorf("duplicate profile add: %v, stderr %q", err, errOut)
	}
	w.fails(t, 1, "profile block: profile not found", "profile", "block", "--email", "nobody@example.com")
	w.fails(t, 2, "--email is required", "profile", "deactivate")
	w.fails(t, 2, "--email: not a valid email address", "profile", "activate", "--email", "not an email")
	w.fails(t, 2, "unknown verb", "profile", "rename")
}

func TestCLISessionVerbs(t *testing.T) {
	w := newCLIWorld(t)
	alice := strings.TrimSpace(harness.CLI(t, w.env, "profile", "add", "--email", "alice@example.com"))
	cookie := w.signIn(t, "alice@example.com")
	w.signIn(t, "alice@example.com") // a second browser

	byEmail, _ := w.cli(t, "session", "list", "--email", "alice@example.com")
	byID, _ := w.cli(t, "session", "list", "--profile", alice)
	row := regexp.MustCompile(`(?m)^[0-9a-f]{16}  +default  +\S+Z  +\S+Z  +\S+Z$`)
	if byEmail != byID || len(row.FindAllString(byEmail, -1)) != 2 {
		t.Fatalf("session list by email:\n%s\nby id:\n%s", byEmail, byID)
	}
	if strings.Contains(byEmail, strings.TrimPrefix(cookie, "extauthz_session=")[:16]) {
		t.Error("session list shows the token, not its hash")
	}

	out, _ := w.cli(t, "session", "revoke", "--email", "alice@example.com")
	if out != "revoked 2 session(s) of "+alice+"\n" {
		t.Errorf("session revoke printed %q", out)
	}
	if n := w.sessionRows(t, "alice@example.com"); n != 0 {
		t.Errorf("after revoke: %d session(s)", n)
	}
	// The old cookie no longer binds: the browser is re-keyed, which is
	// one new session, revoked by id.
	w.reason(t, alice2(cookie), "rekey")
	out, _ = w.cli(t, "session", "revoke", "--profile", alice)
	if out != "revoked 1 session(s) of "+alice+"\n" {
		t.Errorf("session revoke by id printed %q", out)
	}

	w.fails(t, 1, "session list: profile not found", "session", "list", "--email", "nobody@example.com")
	w.fails(t, 2, "not both", "session", "list", "--email", "alice@example.com", "--profile", alice)
	w.fails(t, 2, "--email or --profile is required", "session", "revoke")
}

// alice2 is a request of alice presenting cookie, without Accept.
func alice2(cookie string) harness.Request {
	return harness.Request{Headers: map[string]string{"x-auth-request-email": "alice@example.com"}, Cookie: cookie}
}

func TestCLITokenVerbs(t *testing.T) {
	w := newCLIWorld(t)
	w.cli(t, "profile", "add", "--email", "alice@example.com")

	ci, _ := w.cli(t, "token", "create", "--email", "alice@example.com", "--name", "ci", "--expires", "30d")
	forever, _ := w.cli(t, "token", "create", "--email", "Alice@example.com")
	for _, tok := range []string{ci, forever} {
		if !strings.HasPrefix(tok, "xat_") || strings.Count(tok, "\n") != 1 {
			t.Fatalf("token create printed %q, want the token alone", tok)
		}
	}
	ci, forever = strings.TrimSpace(ci), strings.TrimSpace(forever)
	bearer := func(tok string) harness.Request {
		return harness.Request{Headers: map[string]string{"authorization": "Token " + tok}}
	}
	w.reason(t, bearer(ci), "access_token")

	out, _ := w.cli(t, "token", "list", "--email", "alice@example.com")
	if !strings.HasPrefix(out, "HASH (PREFIX)") || !regexp.MustCompile(`(?m)^[0-9a-f]{16}  +ci  +\S+  +\S+  +false$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^[0-9a-f]{16}  +\S+  +never  +false$`).MatchString(out) || strings.Contains(out, ci) {
		t.Fatalf("token list:\n%s", out)
	}

	if out, _ := w.cli(t, "token", "revoke", "--token", ci); out != "revoked\n" {
		t.Errorf("token revoke printed %q", out)
	}
	w.reason(t, bearer(ci), "access_token_invalid")
	w.reason(t, bearer(forever), "access_token")
	out, _ = w.cli(t, "token", "list", "--email", "alice@example.com")
	if !regexp.MustCompile(`(?m)^[0-9a-f]{16}  +ci  +\S+  +\S+  +true$`).MatchString(out) {
		t.Errorf("token list after revoke:\n%s", out)
	}

	w.fails(t, 1, "not found", "token", "revoke", "--token", ci)
	w.fails(t, 2, "--token is required", "token", "revoke")
	w.fails(t, 2, "--email is required", "token", "list")
	w.fails(t, 1, "profile not found", "token", "create", "--email", "nobody@example.com")
	w.fails(t, 2, "--expires", "token", "create", "--email", "alice@example.com", "--expires", "soon")
}

// exitCode is the exit status of a finished command (0 for success).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatalf("command did not run: %v", err)
	return -1
}

// TestCLICheckExitCode: `check --exit-code` is a CI gate: 0 allow, 1 deny,
// 2 when it cannot decide; without it a denial still exits 0.
func TestCLICheckExitCode(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "extauthz.yaml")
	if err := os.WriteFile(cfg, []byte("seed_profiles:\n  - {email: alice@example.com}\n  - {email: mallory@example.com, blocked: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := func(who string) []string {
		return []string{"check", "--config", cfg, "--header", "x-auth-request-email: " + who}
	}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring; "" means empty
	}{
		{"allow", append(as("alice@example.com"), "--exit-code"), 0, "decision:  ALLOW 200", ""},
		{"deny", append(as("mallory@example.com"), "--exit-code"), 1, "decision:  DENY 403", ""},
		{"deny as JSON", append(as("mallory@example.com"), "--exit-code", "--output", "json"), 1, `"decision": "deny"`, ""},
		{"deny without --exit-code", as("mallory@example.com"), 0, "decision:  DENY 403", ""},
		{"usage", append(as("alice@example.com"), "--exit-code", "--output", "xml"), 2, "", "check: --output: want text or json"},
		{"configuration", []string{"check", "--exit-code", "--config", cfg + ".missing"}, 2, "", "config file: open"},
		{"unknown flag", append(as("alice@example.com"), "--exit-cod"), 2, "", "check: unknown flag --exit-cod (did you mean --exit-code?)"},
	} {
		out, errOut, err := harness.TryCLI(t, nil, tt.args...)
		if got := exitCode(t, err); got != tt.code || !strings.Contains(out, tt.stdout) ||
			(tt.stderr == "") != (errOut == "") || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.name, got, out, errOut, tt.code, tt.stdout, tt.stderr)
		}
	}
}

// TestCLIHelpExitsZero: help is an answer, not an error, for every
// command and command group, and lists --flags only.
func TestCLIHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"profile", "--help"}, {"profile", "add", "--help"},
		{"session", "--help"}, {"token", "--help"}, {"token", "create", "-h"}, {"check", "--help"},
	} {
		out, errOut, err := harness.TryCLI(t, nil, args...)
		if exitCode(t, err) != 0 || errOut != "" || !strings.Contains(out, "Usage") || regexp.MustCompile(`(?m)^  -[a-z]`).MatchString(out) {
			t.Errorf("%v: %v, stderr %q:\n%s", args, err, errOut, out)
		}
	}
}
