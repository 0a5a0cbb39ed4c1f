package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI calls run as main does, with no environment.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// flagLines are the flags a help text lists, in order.
var flagLine = regexp.MustCompile(`(?m)^  (-+)([a-z0-9-]+)`)

func listedFlags(t *testing.T, help string) []string {
	t.Helper()
	var names []string
	for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
		if m[1] != "--" {
			t.Errorf("flag %s%s is not written --%s", m[1], m[2], m[2])
		}
		names = append(names, m[2])
	}
	return names
}

// TestSubcommandHelp: each command's --help exits 0 (flag.ErrHelp) and
// lists only its own flags, written --flag; the server's flags only in
// serve's.
func TestSubcommandHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"profile", "add", "--help"}, []string{"blocked", "email", "inactive", "name", "database-url", "config"}},
		{[]string{"profile", "list", "-h"}, []string{"database-url", "config"}},
		{[]string{"profile", "block", "--help"}, []string{"email", "database-url", "config"}},
		{[]string{"session", "revoke", "--help"}, []string{"email", "profile", "database-url", "config"}},
		{[]string{"token", "create", "--help"}, []string{"email", "expires", "name", "database-url", "config"}},
		{[]string{"token", "revoke", "--help"}, []string{"token", "database-url", "config"}},
		{[]string{"migrate", "--help"}, []string{"database-url", "config"}},
		{[]string{"check", "--help"}, []string{"app", "cookie", "exit-code", "header", "host", "method", "output", "path", "config", "database-url"}},
	} {
		name := strings.Join(tt.args, " ")
		out, errOut, err := runCLI(t, tt.args...)
		if !errors.Is(err, flag.ErrHelp) || errOut != "" {
			t.Errorf("%s: err %v, stderr %q; want flag.ErrHelp (exit 0) and nothing on stderr", name, err, errOut)
		}
		if got := listedFlags(t, out); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s lists %v, want %v:\n%s", name, got, tt.want, out)
		}
		if !strings.HasPrefix(out, "Usage: extauthz "+strings.Join(tt.args[:len(tt.args)-1], " ")) {
			t.Errorf("%s: no usage line:\n%s", name, out)
		}
	}
	out, _, err := runCLI(t, "serve", "--help")
	flags := listedFlags(t, out)
	if !errors.Is(err, flag.ErrHelp) || len(flags) < 40 || !strings.Contains(out, "  --grpc-addr address") || !strings.Contains(out, "  --check-config") {
		t.Errorf("serve --help: err %v, %d flags:\n%s", err, len(flags), out)
	}
}

// TestGroupHelp: profile, session and token --help print their verbs and
// exit 0; without a verb they are a short usage error.
func TestGroupHelp(t *testing.T) {
	for _, tt := range []struct {
		group string
		verbs []string
	}{
		{"profile", []string{"add", "block", "unblock", "activate", "deactivate", "delete", "list"}},
		{"session", []string{"list", "revoke"}},
		{"token", []string{"create", "revoke", "list"}},
	} {
		for _, help := range []string{"--help", "-h", "help"} {
			out, errOut, err := runCLI(t, tt.group, help)
			if !errors.Is(err, flag.ErrHelp) || errOut != "" {
				t.Errorf("%s %s: err %v, stderr %q; want exit 0", tt.group, help, err, errOut)
			}
			for _, v := range tt.verbs {
				if !regexp.MustCompile(`(?m)^  ` + v + `\b`).MatchString(out) {
					t.Errorf("%s %s: verb %s not listed:\n%s", tt.group, help, v, out)
				}
			}
		}
		out, _, err := runCLI(t, "help", tt.group)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "Usage: extauthz "+tt.group+" VERB") {
			t.Errorf("help %s: err %v:\n%s", tt.group, err, out)
		}
		_, _, err = runCLI(t, tt.group)
		if !errors.Is(err, errUsage) || strings.Count(err.Error(), "\n") != 1 || !strings.Contains(err.Error(), "want a verb") {
			t.Errorf("%s without a verb: %v", tt.group, err)
		}
	}
}

// TestUsageErrorsAreShort: an unknown flag, a flag without its value, a bad
// value, an unknown verb or command: one line naming the command and the
// problem, one line of hint, nothing else printed.
func TestUsageErrorsAreShort(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"profile", "add", "--bogus"}, "profile add: unknown flag --bogus\nRun 'extauthz profile add --help' for usage."},
		{[]string{"profile", "add", "--emial", "a@example.com"}, "profile add: unknown flag --emial (did you mean --email?)\n"},
		{[]string{"session", "list", "--email"}, "session list: flag needs an argument: --email\n"},
		{[]string{"migrate", "-grpc-adr", ":1"}, "migrate: unknown flag --grpc-adr (did you mean --grpc-addr?)\n"},
		{[]string{"check", "--lookup-timeout=soon"}, `check: invalid value "soon" for flag --lookup-timeout: `},
		{[]string{"check", "--output", "yaml"}, `check: --output: want text or json, got "yaml"`},
		{[]string{"check", "--header", "no colon"}, `check: --header "no colon": want 'name: value'`},
		{[]string{"profile", "rename"}, `profile: unknown verb "rename", want one of add, block`},
		{[]string{"token", "--email", "a@example.com"}, "token: want a verb before --email"},
		{[]string{"profile", "deactivate"}, "--database-url (or EXTAUTHZ_DATABASE_URL) is required"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		name := strings.Join(tt.args, " ")
		out, errOut, err := runCLI(t, tt.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v; want a usage error containing %q", name, err, tt.want)
			continue
		}
		if n := strings.Count(err.Error(), "\n"); n != 1 || !strings.HasSuffix(err.Error(), "--help' for usage.") {
			t.Errorf("%s: error is %d lines, want a message and a hint:\n%v", name, n+1, err)
		}
		if out != "" || errOut != "" {
			t.Errorf("%s: printed more than the error:\nstdout %q\nstderr %q", name, out, errOut)
		}
	}
}

// TestCheckOutputJSON: --output json is the decision as one JSON object.
func TestCheckOutputJSON(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "extauthz.yaml")
	if err := os.WriteFile(cfg, []byte("seed_profiles:\n  - {email: alice@example.com}\n  - {email: mallory@example.com, blocked: true}\napps:\n  plane: {hosts: [plane.example.com]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	decode := func(args ...string) map[string]any {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"check", "--config", cfg, "--output", "json"}, args...)...)
		if err != nil {
			t.Fatalf("check %v: %v", args, err)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("check %v printed no JSON object: %v\n%s", args, err, out)
		}
		return v
	}
	allow := decode("--host", "plane.example.com", "--header", "x-auth-request-email: alice@example.com")
	set, _ := allow["upstream_set"].([]any)
	if allow["decision"] != "allow" || allow["status"] != 200.0 || allow["reason"] != "rekey" || allow["app"] != "plane" || len(set) != 1 {
		t.Errorf("allow: %v", allow)
	}
	if cookies, _ := allow["set_cookies"].([]any); len(cookies) != 1 || !strings.Contains(cookies[0].(string), "=<new token>;") {
		t.Errorf("allow: set_cookies %v, want the new session cookie, redacted", allow["set_cookies"])
	}
	deny := decode("--header", "x-auth-request-email: mallory@example.com")
	if deny["decision"] != "deny" || deny["status"] != 403.0 || deny["reason"] != "profile_blocked" || deny["body"] != `{"error":"profile_blocked"}` {
		t.Errorf("deny: %v", deny)
	}
	if s, _ := deny["upstream_set"].([]any); s == nil || len(s) != 0 {
		t.Errorf("deny: upstream_set %v, want []", deny["upstream_set"])
	}
}

// TestCheckConfigReadsTracingEnv: --check-config refuses an OTEL_* value
// that serve would refuse, naming the variable, and accepts a good one.
func TestCheckConfigReadsTracingEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" = ok
	}{
		{env: map[string]string{}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, want: "OTEL_TRACES_EXPORTER"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, want: "OTEL_TRACES_SAMPLER"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"serve", "--check-config"}, func(k string) string { return tc.env[k] }, &out, &errOut)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err = %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
