package blackbox

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/test/harness"
)

// hostsConfig gives each app its own session cookie name, so that the
// cookie a first request is issued names the app that decided it.
const hostsConfig = `
cookie: {secure: false}
seed_profiles:
  - {email: alice@example.com}
apps:
  plane:
    hosts: [plane.example.com]
    cookie: {name: plane_session}
  wiki:
    hosts: ["*.wiki.example.com", "[2001:db8::7]"]
    cookie: {name: wiki_session}
`

// TestHostsSelectApp: with no context_extensions (Istio's CUSTOM provider
// sends none), the app is the one whose hosts match :authority, over real
// gRPC; an explicit app still wins; an unknown host gets the default app;
// a named app that is not configured is 503 misconfigured.
func TestHostsSelectApp(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: hostsConfig})
	for _, tt := range []struct {
		app, host string
		cookie    string // the session cookie issued; "" for a denial
	}{
		{"", "plane.example.com", "plane_session"},
		{"", "PLANE.example.com:8443", "plane_session"},
		{"", "team.wiki.example.com", "wiki_session"},
		{"", "a.b.wiki.example.com.", "wiki_session"},
		{"", "[2001:db8::7]:443", "wiki_session"},
		{"", "wiki.example.com", sessionCookie},
		{"", "unknown.example.org", sessionCookie},
		{"plane", "team.wiki.example.com", "plane_session"},
		{"default", "plane.example.com", sessionCookie},
		{"nosuch", "plane.example.com", ""},
	} {
		res := check(t, svc, harness.Request{App: tt.app, Host: tt.host, Headers: email("alice@example.com")})
		if tt.cookie == "" {
			if res.Allow || res.Status != 503 || res.Reason() != "misconfigured" {
				t.Errorf("app %q host %q: allow=%t %d %q, want 503 misconfigured", tt.app, tt.host, res.Allow, res.Status, res.Reason())
			}
			continue
		}
		if !res.Allow || res.SessionToken(tt.cookie) == "" {
			t.Errorf("app %q host %q: allow=%t %q, cookies %q; want a %s", tt.app, tt.host, res.Allow, res.Reason(), res.SetCookies, tt.cookie)
		}
	}
}

// TestHostsSelectAppHTTP: the HTTP check selects apps by host the same
// way, reading the host only from the header its endpoint trusts: Host on
// the nginx endpoints (a client's X-Forwarded-Host is ignored there), the
// X-Forwarded-Host Traefik and Caddy set on /check.
func TestHostsSelectAppHTTP(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: hostsConfig})
	for _, tt := range []struct {
		name, path string
		headers    map[string]string
		host       string
		cookie     string
	}{
		{"nginx by Host", "/nginx/check", nil, "plane.example.com", "plane_session"},
		{"nginx by Host with port", "/nginx/check", nil, "x.wiki.example.com:8080", "wiki_session"},
		{"nginx ignores X-Forwarded-Host", "/nginx/check", map[string]string{"X-Forwarded-Host": "plane.example.com"}, "other.example.com", sessionCookie},
		{"nginx path app wins", "/nginx/check/wiki", nil, "plane.example.com", "wiki_session"},
		{"forward by X-Forwarded-Host", "/check", map[string]string{"X-Forwarded-Host": "Plane.Example.com"}, "extauthz.internal", "plane_session"},
		{"forward ignores Host", "/check", map[string]string{"X-Forwarded-Host": "other.example.com"}, "plane.example.com", sessionCookie},
		{"forward header app wins", "/check", map[string]string{"X-Forwarded-Host": "plane.example.com", "X-Extauthz-App": "wiki"}, "x", "wiki_session"},
		{"forward unknown host", "/check", map[string]string{"X-Forwarded-Host": "unknown.example.org"}, "x", sessionCookie},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+svc.CheckAddr+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			req.Header.Set("X-Auth-Request-Email", "alice@example.com")
			req.Header.Set("X-Original-URI", "/")
			req.Header.Set("X-Forwarded-Uri", "/")
			req.Header.Set("X-Forwarded-Method", "GET")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var names []string
			for _, c := range resp.Cookies() {
				names = append(names, c.Name)
			}
			if resp.StatusCode != 200 || len(names) != 1 || names[0] != tt.cookie {
				t.Errorf("status %d, cookies %v; want 200 and a %s", resp.StatusCode, strings.Join(names, ","), tt.cookie)
			}
		})
	}
}
