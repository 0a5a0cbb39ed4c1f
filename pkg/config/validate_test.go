package config

import (
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // each a substring of the error; nil means valid
	}{
		{name: "defaults are valid", mutate: func(*Config) {}},
		{
			name:   "addresses",
			mutate: func(c *Config) { c.GRPCAddr = "9191"; c.HTTPAddr = "localhost:http" },
			want:   []string{`grpc_addr: must be host:port`, `http_addr: port must be a number 0-65535, got "http"`},
		},
		{
			name:   "same address twice",
			mutate: func(c *Config) { c.HTTPAddr = c.GRPCAddr },
			want:   []string{"http_addr: must differ from grpc_addr"},
		},
		{
			name:   "lookup_timeout must be below envoy_timeout",
			mutate: func(c *Config) { c.LookupTimeout = 200 * time.Millisecond },
			want:   []string{"lookup_timeout: must be below envoy_timeout (200ms), got 200ms"},
		},
		{
			name: "durations must be positive",
			mutate: func(c *Config) {
				c.ShutdownTimeout = 0
				c.Defaults.SessionMaxAge = -time.Hour
				c.Defaults.RetryAfter = 500 * time.Millisecond
			},
			want: []string{"shutdown_timeout: must be a positive duration", "session_max_age: must be a positive duration", "retry_after: must be at least 1s"},
		},
		{
			name:   "renew_after below session_max_age",
			mutate: func(c *Config) { c.Defaults.RenewAfter = 8 * 24 * time.Hour },
			want:   []string{"renew_after: must be below session_max_age (7d), got 8d"},
		},
		{
			name: "enums",
			mutate: func(c *Config) {
				c.Log.Level = "loud"
				c.Log.Format = "xml"
				c.Defaults.IdentityKey = "sub"
				c.Defaults.OnMissingIdentity = "allow"
				c.Defaults.OnUnknownIdentity = "register"
				c.Defaults.FlushMode = "x"
				c.Defaults.Cookie.SameSite = "sometimes"
			},
			want: []string{
				`log.level: must be "debug", "info", "warn" or "error", got "loud"`,
				`log.format: must be "json" or "text", got "xml"`,
				`identity_key: must be "email" or "user", got "sub"`,
				`on_missing_identity: must be "session" or "deny", got "allow"`,
				`on_unknown_identity: must be "anonymous" or "deny", got "register"`,
				`flush_mode: must be "redirect" or "inline", got "x"`,
				`cookie.same_site: must be "Lax", "Strict" or "None", got "sometimes"`,
			},
		},
		{
			name:   "decision_sample in [0,1]",
			mutate: func(c *Config) { c.Log.DecisionSample = 1.5 },
			want:   []string{"log.decision_sample: must be between 0 and 1, got 1.5"},
		},
		{
			name:   "identity_key user needs user_header",
			mutate: func(c *Config) { c.Defaults.IdentityKey = authz.KeyUser; c.Defaults.UserHeader = "" },
			want:   []string{`identity_key: "user" needs user_header to be set`},
		},
		{
			name: "header names",
			mutate: func(c *Config) {
				c.Defaults.IdentityHeader = ""
				c.Defaults.ProfileHeader = "x profile"
				c.Defaults.OwnedHeaders = []string{"x-ok", "x:bad"}
			},
			want: []string{"identity_header: must be set", `profile_header: must be a valid header name, got "x profile"`, `owned_headers[1]: must be a valid header name, got "x:bad"`},
		},
		{
			name:   "profile header may not be an identity header",
			mutate: func(c *Config) { c.Defaults.ProfileHeader = "X-Auth-Request-Email" },
			want:   []string{"profile_header: must differ from identity_header"},
		},
		{
			name:   "same_site None needs secure",
			mutate: func(c *Config) { c.Defaults.Cookie.SameSite = "none"; c.Defaults.Cookie.Secure = false },
			want:   []string{"cookie.secure: must be true with same_site None"},
		},
		{
			name:   "cookie name must be a token",
			mutate: func(c *Config) { c.Defaults.Cookie.Name = "my session" },
			want:   []string{`cookie.name: must be a valid cookie name`},
		},
		{
			name:   "max_set_cookies",
			mutate: func(c *Config) { c.Defaults.MaxSetCookies = -1 },
			want:   []string{"max_set_cookies: must be 0 (no limit) or more, got -1"},
		},
		{
			name:   "default_email_domain",
			mutate: func(c *Config) { c.Defaults.DefaultEmailDomain = "not a domain" },
			want:   []string{`default_email_domain: must be a domain such as example.com, got "not a domain"`},
		},
		{
			name:   "default_email_domain may start with @",
			mutate: func(c *Config) { c.Defaults.DefaultEmailDomain = "@Example.com" },
		},
		{
			name:   "database urls are never echoed",
			mutate: func(c *Config) { c.DatabaseURL = "hunter2"; c.DatabaseMaxConns = 0 },
			want:   []string{"database_url: must be a postgres:// URL", "database_max_conns: must be at least 1, got 0"},
		},
		{
			name:   "database_min_conns negative",
			mutate: func(c *Config) { c.DatabaseMinConns = -1 },
			want:   []string{"database_min_conns: must be 0 or more (at most database_max_conns are opened), got -1"},
		},
		{
			// The pool is capped at database_max_conns: lowering the pool
			// size alone must not need the minimum lowered too.
			name:   "database_min_conns above a small pool",
			mutate: func(c *Config) { c.DatabaseMaxConns = 2 },
		},
		{
			name:   "keyword/value database url",
			mutate: func(c *Config) { c.DatabaseURL = "host=db user=x password=hunter2" },
		},
		{
			name: "app problems name the app",
			mutate: func(c *Config) {
				c.Apps["wiki app"] = App{}
				c.Apps["plane"] = App{
					NativeCookies: []NativeCookie{{Name: "session-id"}, {Name: "session-id", Path: "/"}, {Name: "bad name"}, {Name: "extauthz_session"}},
					Bypass:        []string{"god-mode", "/api/../admin", "/ok/", "/", "/x?y"},
					Credentials:   []Credential{{Header: "", Mode: "validate"}, {Header: "X-Api-Key", Mode: "trust"}, {Header: "authorization", Scheme: "To ken", Mode: "validate"}, {Header: "x-api-key", Mode: "pass_through"}},
				}
			},
			want: []string{
				`apps.wiki app: app names may use only`,
				`apps.plane.native_cookies[1].name: cookie "session-id" with this domain and path is listed twice`,
				`apps.plane.native_cookies[2].name: must be a valid cookie name`,
				`apps.plane.native_cookies[3].name: "extauthz_session" is the service's own session cookie`,
				`apps.plane.bypass[0]: must start with "/", got "god-mode"`,
				`apps.plane.bypass[1]: must be a normalised path`,
				`apps.plane.bypass[3]: "/" would bypass every request`,
				`apps.plane.bypass[4]: must be a path without query`,
				`apps.plane.credentials[0].header: must be set`,
				`apps.plane.credentials[1].mode: must be "validate" or "pass_through", got "trust"`,
				`apps.plane.credentials[2].scheme: must be a single word`,
				`apps.plane.credentials[3]: same header, scheme and prefix as an earlier credential`,
			},
		},
		{
			name: "sql profile source",
			mutate: func(c *Config) {
				c.Apps["a"] = App{ProfileSource: ProfileSource{Kind: SourceSQL}}
				c.Apps["b"] = App{ProfileSource: ProfileSource{Kind: SourceSQL, DatabaseURL: "postgres://db/b", Query: "SELECT id, true, false FROM u WHERE email = $1 OR name = $2", RegisterQuery: "INSERT INTO u VALUES ($3)", MaxConns: -1, Timeout: time.Second}}
				c.Apps["c"] = App{ProfileSource: ProfileSource{Kind: "ldap"}}
				c.Apps["d"] = App{ProfileSource: ProfileSource{Query: "SELECT 1"}}
				c.Apps["e"] = App{ProfileSource: ProfileSource{Kind: SourceSQL, DatabaseURL: "postgres://db/e", Query: "SELECT id, true, false FROM u WHERE email = $1"}, AppOverrides: AppOverrides{AutoRegister: ptr(true)}}
			},
			want: []string{
				`apps.a.profile_source.database_url: is required with kind "sql"`,
				`apps.a.profile_source.query: is required with kind "sql"`,
				`apps.b.profile_source.query: must use exactly one parameter, $1 (the email), got $1, $2`,
				`apps.b.profile_source.register_query: must use $1 (the email) and optionally $2 (the display name), got $3`,
				`apps.b.profile_source.max_conns: must be 0 (default 4) or more, got -1`,
				`apps.b.profile_source.timeout: must not exceed lookup_timeout (150ms), got 1s`,
				`apps.c.profile_source.kind: must be "builtin" or "sql", got "ldap"`,
				`apps.d.profile_source.query: is only used with kind "sql"`,
				`apps.e.auto_register: is on, but app "e" has an sql profile_source without register_query`,
			},
		},
		{
			name: "valid sql profile source with register query",
			mutate: func(c *Config) {
				c.Apps["ok"] = App{ProfileSource: ProfileSource{Kind: SourceSQL, DatabaseURL: "postgres://db/ok",
					Query:         "SELECT id::text, is_active, is_blocked FROM profile WHERE email = $1 AND deleted_at IS NULL",
					RegisterQuery: "INSERT INTO profile (email, fullname) VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id::text, is_active, is_blocked"}}
				c.Defaults.AutoRegister = true
			},
		},
		{
			name: "an app is blamed only for what it sets",
			mutate: func(c *Config) {
				c.Defaults.FlushMode = "bad"
				c.Apps["x"] = App{}
				c.Apps["y"] = App{AppOverrides: AppOverrides{FlushMode: ptr(authz.FlushMode("worse")), Cookie: &CookieOverride{Name: ptr("__Host-y")}}}
				c.Apps["z"] = App{AppOverrides: AppOverrides{FlushMode: ptr(authz.FlushInline)}}
			},
			want: []string{
				`flush_mode: must be "redirect" or "inline", got "bad"`,
				`apps.y.flush_mode: must be "redirect" or "inline", got "worse"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a database URL:\n%v", err)
			}
			if got := strings.Count(err.Error(), "\n") + 1; got < len(tt.want) {
				t.Errorf("%d problems reported, want at least %d:\n%v", got, len(tt.want), err)
			}
		})
	}
}

// TestValidateBlamesOnce: a bad default inherited by many apps is one error.
func TestValidateBlamesOnce(t *testing.T) {
	c := Default()
	c.Defaults.FlushMode = "bad"
	c.Apps["a"], c.Apps["b"] = App{}, App{}
	err := c.Validate()
	if err == nil || strings.Count(err.Error(), "flush_mode") != 1 {
		t.Errorf("want one flush_mode error, got:\n%v", err)
	}
}

func TestHostPrefixCookie(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{
			name: "valid __Host- cookie",
			yml:  "cookie: {name: __Host-extauthz, secure: true, path: /, domain: \"\"}\n",
		},
		{
			name: "__Host- needs secure, path / and no domain",
			yml:  "cookie: {name: __Host-extauthz, secure: false, path: /app, domain: example.com}\n",
			want: []string{
				"cookie.secure: must be true for a __Host- cookie (__Host-extauthz)",
				`cookie.path: must be "/" for a __Host- cookie (__Host-extauthz), got "/app"`,
				`cookie.domain: must be empty for a __Host- cookie (__Host-extauthz), got "example.com"`,
			},
		},
		{
			name: "app switches to __Host- while inheriting a domain",
			yml:  "cookie: {domain: example.com}\napps:\n  wiki:\n    cookie: {name: __Host-wiki}\n",
			want: []string{`apps.wiki.cookie.domain: must be empty for a __Host- cookie (__Host-wiki), got "example.com"`},
		},
		{
			name: "app turns secure off under an inherited __Host- name",
			yml:  "cookie: {name: __Host-s}\napps:\n  wiki:\n    cookie: {secure: false}\n",
			want: []string{"apps.wiki.cookie.secure: must be true for a __Host- cookie (__Host-s)"},
		},
		{
			name: "__Host- native cookie",
			yml:  "apps:\n  wiki:\n    native_cookies: [{name: __Host-sid, path: /x}]\n",
			want: []string{
				"apps.wiki.native_cookies[0].secure: must be true for a __Host- cookie (__Host-sid)",
				`apps.wiki.native_cookies[0].path: must be "/" for a __Host- cookie (__Host-sid), got "/x"`,
			},
		},
		{
			name: "__Secure- needs secure",
			yml:  "cookie: {name: __Secure-s, secure: false}\n",
			want: []string{"cookie.secure: must be true for a __Secure- cookie (__Secure-s)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.yml, map[string]string{})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}
