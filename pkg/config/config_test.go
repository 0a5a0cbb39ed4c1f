package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// parse runs Parse on a fresh FlagSet with a YAML file (if yml != ""),
// environment and arguments. "$CONFIG" in args is replaced by the file path.
func parse(t *testing.T, yml string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	if yml != "" {
		path := filepath.Join(t.TempDir(), "extauthz.yaml")
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		hasConfig := env[EnvConfig] != ""
		for i, a := range args {
			if strings.Contains(a, "$CONFIG") {
				args[i] = strings.ReplaceAll(a, "$CONFIG", path)
				hasConfig = true
			}
		}
		if !hasConfig {
			args = append([]string{"--config", path}, args...)
		}
		if env[EnvConfig] == "$CONFIG" {
			env[EnvConfig] = path
		}
	}
	fs := flag.NewFlagSet("extauthz", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Parse(fs, args, func(k string) string { return env[k] })
}

func mustParse(t *testing.T, yml string, env map[string]string, args ...string) Config {
	t.Helper()
	c, err := parse(t, yml, env, args...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "", nil)
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("Parse with nothing set differs from Default() (-want +got):\n%s", diff)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	want := authz.DefaultPolicy(authz.DefaultApp)
	want.OwnedHeaders = []string{"x-profile-id"}
	ps := c.Policies()
	if len(ps) != 1 {
		t.Fatalf("Policies() = %d policies, want only default", len(ps))
	}
	if diff := cmp.Diff(want, ps[0]); diff != "" {
		t.Errorf("default policy differs from authz.DefaultPolicy (-want +got):\n%s", diff)
	}
	src := c.AppSource("default")
	if src.Kind != SourceBuiltin || src.Timeout != 150*time.Millisecond {
		t.Errorf("AppSource(default) = %+v, want builtin with lookup_timeout", src)
	}
	if c.AppSource("nope") != src {
		t.Errorf("AppSource of an unknown app should be the default app's")
	}
}

// TestLayers checks default < YAML < env < flags, and that only flags
// actually given override.
func TestLayers(t *testing.T) {
	const yml = `
grpc_addr: ":7000"
http_addr: ":7001"
lookup_timeout: 100ms
auto_register: true
cookie: {name: file_cookie}
log: {level: debug}
`
	tests := []struct {
		name  string
		yml   string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name: "yaml overrides defaults, leaves the rest",
			yml:  yml,
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":7000")
				eq(t, "lookup_timeout", c.LookupTimeout, 100*time.Millisecond)
				eq(t, "auto_register", c.Defaults.AutoRegister, true)
				eq(t, "cookie.name", c.Defaults.Cookie.Name, "file_cookie")
				eq(t, "cookie.path kept", c.Defaults.Cookie.Path, "/")
				eq(t, "cookie.secure kept", c.Defaults.Cookie.Secure, true)
				eq(t, "log.level", c.Log.Level, "debug")
				eq(t, "log.format kept", c.Log.Format, "json")
				eq(t, "envoy_timeout kept", c.EnvoyTimeout, 200*time.Millisecond)
			},
		},
		{
			name: "env overrides yaml",
			yml:  yml,
			env: map[string]string{
				"EXTAUTHZ_GRPC_ADDR":      ":8000",
				"EXTAUTHZ_AUTO_REGISTER":  "0",
				"EXTAUTHZ_COOKIE_NAME":    "env_cookie",
				"EXTAUTHZ_LOG_LEVEL":      "warn",
				"EXTAUTHZ_LOOKUP_TIMEOUT": "120ms",
				"EXTAUTHZ_OWNED_HEADERS":  "X-User-Id, x-roles",
			},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":8000")
				eq(t, "http_addr from yaml", c.HTTPAddr, ":7001")
				eq(t, "auto_register", c.Defaults.AutoRegister, false)
				eq(t, "cookie.name", c.Defaults.Cookie.Name, "env_cookie")
				eq(t, "log.level", c.Log.Level, "warn")
				eq(t, "lookup_timeout", c.LookupTimeout, 120*time.Millisecond)
				eq(t, "owned_headers", strings.Join(c.Defaults.OwnedHeaders, "|"), "X-User-Id|x-roles")
			},
		},
		{
			name: "flags override env; absent flags do not",
			yml:  yml,
			env: map[string]string{
				"EXTAUTHZ_GRPC_ADDR":     ":8000",
				"EXTAUTHZ_HTTP_ADDR":     ":8001",
				"EXTAUTHZ_AUTO_REGISTER": "false",
			},
			args: []string{"--grpc-addr", ":9000", "--auto-register", "--cookie-secure=false", "-cookie-name=__Secure-x", "--cookie-secure=true"},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":9000")
				eq(t, "http_addr from env", c.HTTPAddr, ":8001")
				eq(t, "auto_register", c.Defaults.AutoRegister, true)
				eq(t, "cookie.name", c.Defaults.Cookie.Name, "__Secure-x")
				eq(t, "cookie.secure (last flag wins)", c.Defaults.Cookie.Secure, true)
				eq(t, "lookup_timeout from yaml", c.LookupTimeout, 100*time.Millisecond)
			},
		},
		{
			name: "--config=FILE after other flags",
			yml:  yml,
			args: []string{"--http-addr", ":1234", "--migrate", "--config=$CONFIG", "--check-config"},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":7000")
				eq(t, "http_addr", c.HTTPAddr, ":1234")
				eq(t, "migrate", c.Migrate, true)
				eq(t, "check-config", c.CheckConfig, true)
				if !strings.HasSuffix(c.ConfigFile, "extauthz.yaml") {
					t.Errorf("ConfigFile = %q", c.ConfigFile)
				}
			},
		},
		{
			name: "-config FILE with one dash",
			yml:  yml,
			args: []string{"-config", "$CONFIG"},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":7000")
			},
		},
		{
			name: "EXTAUTHZ_CONFIG when no --config",
			yml:  yml,
			env:  map[string]string{EnvConfig: "$CONFIG"},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":7000")
				eq(t, "check-config", c.CheckConfig, false)
			},
		},
		{
			name: "--config beats EXTAUTHZ_CONFIG",
			yml:  yml,
			env:  map[string]string{EnvConfig: "/nonexistent/extauthz.yaml"},
			args: []string{"--config", "$CONFIG"},
			check: func(t *testing.T, c Config) {
				eq(t, "grpc_addr", c.GRPCAddr, ":7000")
			},
		},
		{
			name: "durations with days from every layer",
			yml:  "session_max_age: 7d\nrenew_after: 1d12h\n",
			env:  map[string]string{"EXTAUTHZ_LOOP_GUARD_WINDOW": "1d"},
			args: []string{"--retry-after=0.5d"},
			check: func(t *testing.T, c Config) {
				eq(t, "session_max_age", c.Defaults.SessionMaxAge, 7*24*time.Hour)
				eq(t, "renew_after", c.Defaults.RenewAfter, 36*time.Hour)
				eq(t, "loop_guard_window", c.Defaults.LoopGuardWindow, 24*time.Hour)
				eq(t, "retry_after", c.Defaults.RetryAfter, 12*time.Hour)
			},
		},
		{
			name: "env booleans take strconv.ParseBool forms",
			env: map[string]string{
				"EXTAUTHZ_MIGRATE":              "T",
				"EXTAUTHZ_UNAVAILABLE_AS_ERROR": "1",
				"EXTAUTHZ_LOG_LOG_EMAILS":       "TRUE",
				"EXTAUTHZ_COOKIE_SECURE":        "f",
			},
			args: []string{"--cookie-same-site", "Strict"},
			check: func(t *testing.T, c Config) {
				eq(t, "migrate", c.Migrate, true)
				eq(t, "unavailable_as_error", c.UnavailableAsError, true)
				eq(t, "log.log_emails", c.Log.LogEmails, true)
				eq(t, "cookie.secure", c.Defaults.Cookie.Secure, false)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			tt.check(t, mustParse(t, tt.yml, env, append([]string(nil), tt.args...)...))
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestCallerFlags: flags the caller registered before Parse still work, and
// the --config pre-scan skips their values.
func TestCallerFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("grpc_addr: \":7000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	verbose := fs.Bool("verbose", false, "")
	name := fs.String("name", "", "")
	c, err := Parse(fs, []string{"--verbose", "--name", "--config", "--config", path, "rest", "--grpc-addr=:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "verbose", *verbose, true)
	eq(t, "name", *name, "--config")
	eq(t, "grpc_addr", c.GRPCAddr, ":7000")
	eq(t, "args", strings.Join(fs.Args(), " "), "rest --grpc-addr=:1")

	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, err = Parse(fs, []string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		env  map[string]string
		args []string
		want []string // substrings, all in one error
	}{
		{
			name: "unknown top-level key",
			yml:  "grpc_adr: \":1\"\n",
			want: []string{"grpc_adr: unknown key (did you mean grpc_addr?)", "extauthz.yaml:1"},
		},
		{
			name: "unknown key inside an app",
			yml:  "apps:\n  plane:\n    flush_mod: inline\n    native_cookie: []\n",
			want: []string{"apps.plane.flush_mod: unknown key (did you mean flush_mode?)", "apps.plane.native_cookie: unknown key (did you mean native_cookies?)", ":3)"},
		},
		{
			name: "unknown key in a list item",
			yml:  "apps:\n  penpot:\n    credentials:\n      - {header: authorization, mode: validate, shceme: Token}\n",
			want: []string{"apps.penpot.credentials[0].shceme: unknown key"},
		},
		{
			name: "wrong types",
			yml:  "database_max_conns: many\nmigrate: maybe\nlookup_timeout: 150\napps: []\nlog: {decision_sample: half}\n",
			want: []string{
				`database_max_conns: must be a whole number, got "many"`,
				`migrate: must be a boolean`,
				`lookup_timeout: invalid duration "150"`,
				`apps: must be a mapping`,
				`log.decision_sample: must be a number, got "half"`,
			},
		},
		{
			name: "key given twice",
			yml:  "grpc_addr: \":1\"\ngrpc_addr: \":2\"\n",
			want: []string{"grpc_addr: key given twice"},
		},
		{
			name: "syntax error",
			yml:  "grpc_addr: [\n",
			want: []string{"extauthz.yaml: yaml:"},
		},
		{
			name: "file missing",
			env:  map[string]string{EnvConfig: "/nonexistent/x.yaml"},
			want: []string{"config file: open /nonexistent/x.yaml"},
		},
		{
			name: "file, env, flag and validation problems together",
			yml:  "grpc_adr: x\nflush_mode: sideways\napps:\n  plane: {flush_mode: x, max_set_cookies: -1}\n",
			env:  map[string]string{"EXTAUTHZ_AUTO_REGISTER": "perhaps", "EXTAUTHZ_DATABASE_URL": "mysql://root:hunter2@db/x"},
			args: []string{"--lookup-timeout=soon"},
			want: []string{
				"grpc_adr: unknown key",
				`auto_register: EXTAUTHZ_AUTO_REGISTER="perhaps": must be true or false`,
				`invalid value "soon" for flag -lookup-timeout`,
				`flush_mode: must be "redirect" or "inline", got "sideways"`,
				`apps.plane.flush_mode: must be "redirect" or "inline", got "x"`,
				`apps.plane.max_set_cookies: must be 0 (no limit) or more, got -1`,
				`database_url: must be a postgres:// or postgresql:// URL (value not shown)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := parse(t, tt.yml, env, tt.args...)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password:\n%v", err)
			}
		})
	}
}

// TestDefaultMarshalRoundTrip keeps the yaml tags and the loader in step:
// the defaults written out as YAML load back unchanged.
func TestDefaultMarshalRoundTrip(t *testing.T) {
	out, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	c := Config{}
	if errs := c.loadYAML(out, "defaults.yaml", nil); len(errs) > 0 {
		t.Fatalf("loading marshalled defaults: %v\n%s", errors.Join(errs...), out)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestSeedProfiles(t *testing.T) {
	c := mustParse(t, `
seed_profiles:
  - {email: " Alice@Example.COM ", name: Alice}
  - {email: bob@example.com, active: false, blocked: true}
`, nil)
	want := []SeedProfile{
		{Email: "alice@example.com", Name: "Alice", Active: true},
		{Email: "bob@example.com", Blocked: true},
	}
	if diff := cmp.Diff(want, c.SeedProfiles); diff != "" {
		t.Errorf("seed profiles (-want +got):\n%s", diff)
	}

	_, err := parse(t, "seed_profiles:\n  - {email: a@example.com}\n  - {email: not-an-email}\n  - {email: A@example.com}\n", nil)
	for _, w := range []string{`seed_profiles[1].email: must be an email address, got "not-an-email"`, `seed_profiles[2].email: "a@example.com" is also seed_profiles[0]`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q; got %v", w, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"150ms", 150 * time.Millisecond, false},
		{"6h", 6 * time.Hour, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"1.5d", 36 * time.Hour, false},
		{"-1d", -24 * time.Hour, false},
		{" 2d ", 48 * time.Hour, false},
		{"0", 0, false},
		{"d", 0, true},
		{"7x", 0, true},
		{"12h1d", 0, true},
		{"1d-2h", 0, true},
		{"150", 0, true},
		{"1e9d", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, d := range []time.Duration{0, time.Second, 150 * time.Millisecond, 7 * 24 * time.Hour, 36 * time.Hour, 6 * time.Hour, 90 * time.Minute, 10 * time.Minute, -time.Hour} {
		back, err := ParseDuration(formatDuration(d))
		if err != nil || back != d {
			t.Errorf("formatDuration(%v) = %q does not read back: %v, %v", d, formatDuration(d), back, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://app:s3cret@db:5432/extauthz?sslmode=require", "postgres://app:xxxxx@db:5432/extauthz?sslmode=require"},
		{"postgres://app@db/extauthz", "postgres://app@db/extauthz"},
		{"postgresql://db/x?user=app&password=s3cret", "postgresql://db/x?password=xxxxx&user=app"},
		{"postgres://app:s3cret@h1:5432,h2:5432/x", "postgres://app:xxxxx@h1:5432,h2:5432/x"},
		{"postgres://app:p@ss@h1,h2/x?password=s3cret", "postgres://app:xxxxx@h1,h2/x?password=xxxxx"},
		{"host=db user=app password=s3cret dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"host=db password='s3 cret' dbname=x", "host=db password=xxxxx dbname=x"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	c := Default()
	c.DatabaseURL = "postgres://app:s3cret@db/extauthz"
	c.Apps = map[string]App{"penpot": {ProfileSource: ProfileSource{Kind: SourceSQL, DatabaseURL: "postgres://ro:s3cret@penpot-db/penpot"}}}
	r := c.Redacted()
	if strings.Contains(r.DatabaseURL, "s3cret") || strings.Contains(r.Apps["penpot"].ProfileSource.DatabaseURL, "s3cret") {
		t.Errorf("Redacted() still holds a password: %+v", r)
	}
	if !strings.Contains(c.Apps["penpot"].ProfileSource.DatabaseURL, "s3cret") || !strings.Contains(c.DatabaseURL, "s3cret") {
		t.Errorf("Redacted() modified the original")
	}
}

// TestBindingsDocumented: every flag/env binding names a real YAML key
// (TestReferenceListsEveryFlag checks that the reference lists it).
func TestBindingsDocumented(t *testing.T) {
	var c Config
	for _, b := range bindings(&c) {
		if !keyExists(b.key) {
			t.Errorf("binding %q names no YAML key", b.key)
		}
	}
}

func keyExists(key string) bool {
	fields := map[string]bool{}
	out, _ := yaml.Marshal(Default())
	var m map[string]any
	_ = yaml.Unmarshal(out, &m)
	var flatten func(prefix string, m map[string]any)
	flatten = func(prefix string, m map[string]any) {
		for k, v := range m {
			fields[joinKey(prefix, k)] = true
			if sub, ok := v.(map[string]any); ok {
				flatten(joinKey(prefix, k), sub)
			}
		}
	}
	flatten("", m)
	return fields[key]
}
