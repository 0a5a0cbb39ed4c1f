package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// frontend is one proxy the suite runs the same scenarios through, on the
// configuration shipped in deploy/<name> (rendered for loopback addresses
// only).
type frontend struct {
	name string
	// config is extauthz's configuration for this front end.
	config string
	// start renders the shipped configuration into s.dir for p and starts
	// the proxy on p.Listen; it returns once the proxy answers.
	start func(t *testing.T, s *stack, p proxyParams) *proc
	// unauthStatus is what the edge answers a request without an
	// oauth2-proxy session (sign-in page or a redirect to it).
	unauthStatus int
	// page503 says the shipped config turns extauthz's 503 into an HTML page
	// (else the browser gets extauthz's own JSON body with the same status
	// and headers).
	page503 bool
	// rewritesCookie says the proxy replaces the upstream Cookie header
	// with extauthz's answer (X-Extauthz-Cookie, or Cookie on /check for
	// Traefik), so the app never sees extauthz's own cookie.
	rewritesCookie bool
	// cookiesViaRedirect says the proxy drops an allowed check's Set-Cookie,
	// so the app's extauthz config sets cookies_via_redirect.
	cookiesViaRedirect bool
	// defaults are the top-level extauthz settings this front end needs in
	// a configuration of the test's own (jwtConfig).
	defaults string
}

// proxyParams are the addresses a front end's configuration is rendered
// with.
type proxyParams struct {
	Listen       string // the public address (127.0.0.1:port)
	OAuth2Proxy  string
	Extauthz     string // extauthz's check_addr
	App          string
	AppName      string
	WithExtauthz bool
	// IdentityJWT passes oauth2-proxy's id_token to extauthz (identity_jwt)
	// and routes the back-channel logout endpoint to it.
	IdentityJWT bool
}

// baseConfig is the extauthz configuration shared by every front end:
// plain HTTP on loopback (cookies not Secure), profiles created on first
// sight, the demo app's own cookie flushed on a change of person, a bypass
// prefix for the spoof matrix, a pass-through credential, and an "open" app that bypasses the
// matrix's /secret, which a client must not be able to select.
const baseConfig = `
log: {format: text, level: info}
cookie: {secure: false}
auto_register: true
apps:
  demo:
    native_cookies:
      - {name: app_session, domain: "", path: /, secure: false}
    bypass: [/public]
    credentials:
      - {header: X-Api-Key, mode: pass_through}
    # Short, so that the replay test sees the end of a guard window soon.
    loop_guard_window: 1s%s
  open:
    bypass: [/secret]
  plain: {}
`

var frontends = []*frontend{
	{
		name: "nginx",
		// nginx maps four X-Extauthz-Set-Cookie-N headers (deploy/nginx).
		config:         fmt.Sprintf(baseConfig, "\n    max_set_cookies: 4"),
		start:          startNginx,
		unauthStatus:   403,
		page503:        true,
		rewritesCookie: true,
		defaults:       "max_set_cookies: 4\n",
	},
	{
		name: "traefik",
		// addAuthCookiesToResponse (deploy/traefik) delivers the session
		// cookie on allowed responses; every Set-Cookie of a denial is
		// copied.
		config:         fmt.Sprintf(baseConfig, ""),
		start:          startTraefik,
		unauthStatus:   403,
		rewritesCookie: true,
	},
	{
		name: "caddy",
		// forward_auth drops an allowed check's Set-Cookie (deploy/caddy).
		config:             fmt.Sprintf(baseConfig, "\n    cookies_via_redirect: true"),
		start:              startCaddy,
		unauthStatus:       302,
		page503:            true,
		rewritesCookie:     true,
		cookiesViaRedirect: true,
		defaults:           "cookies_via_redirect: true\n",
	},
}

// forEachFrontend runs fn as a subtest per front end.
func forEachFrontend(t *testing.T, fn func(t *testing.T, fe *frontend)) {
	for _, fe := range frontends {
		t.Run(fe.name, func(t *testing.T) { fn(t, fe) })
	}
}

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
	toolErrs  = map[string]error{}
)

// tool installs a pinned tool with scripts/tool.sh (once per test process)
// and returns its path; it fails the test, never skips it, when that is
// impossible.
func tool(t *testing.T, name string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if _, done := toolPaths[name]; !done && toolErrs[name] == nil {
		// Traefik and Caddy take minutes to build the first time.
		out, err := command(20*time.Minute, repoRoot(), "scripts/tool.sh", "--path", name)
		if err != nil {
			toolErrs[name] = fmt.Errorf("installing %s with scripts/tool.sh failed: %v\n%s", name, err, tail(string(out), 30))
		} else {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			toolPaths[name] = lines[len(lines)-1]
		}
	}
	if err := toolErrs[name]; err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return toolPaths[name]
}

// render executes the shipped template deploy/<rel> with data and writes
// the result to dir/out.
func render(t *testing.T, rel, dir, out string, data any) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join(repoRoot(), "deploy", rel))
	if err != nil {
		t.Fatalf("e2e: template %s: %v", rel, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("e2e: template %s: %v", rel, err)
	}
	path := filepath.Join(dir, out)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNginx runs deploy/nginx/nginx.conf.tmpl.
func startNginx(t *testing.T, s *stack, p proxyParams) *proc {
	t.Helper()
	nginx := requireNginx(t)
	dir := filepath.Join(s.dir, "nginx-"+strings.ReplaceAll(p.Listen, ":", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := render(t, "nginx/nginx.conf.tmpl", dir, "nginx.conf", nginxParams{
		Listen: p.Listen, Inner: freeAddr(t), OAuth2Proxy: p.OAuth2Proxy, Extauthz: p.Extauthz,
		App: p.App, AppName: p.AppName, WithExtauthz: p.WithExtauthz, IdentityJWT: p.IdentityJWT,
	})
	errorLog := filepath.Join(dir, "error.log")
	if out, err := command(time.Minute, dir, nginx, "-t", "-p", dir, "-e", errorLog, "-c", conf); err != nil {
		t.Fatalf("e2e: nginx -t: %v\n%s", err, out)
	}
	pr := startProc(t, "nginx", syscall.SIGTERM, dir, nil,
		nginx, "-p", dir, "-e", errorLog, "-c", conf, "-g", "daemon off;")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(errorLog)
			t.Logf("nginx error.log:\n%s", tail(string(b), 60))
		}
	})
	return pr
}

// nginxParams fills deploy/nginx/nginx.conf.tmpl.
type nginxParams struct {
	Listen, Inner, OAuth2Proxy, Extauthz, App, AppName string
	WithExtauthz, IdentityJWT                          bool
}

// startTraefik runs deploy/traefik/traefik.yaml.tmpl (static) and
// dynamic.yaml.tmpl (file provider).
func startTraefik(t *testing.T, s *stack, p proxyParams) *proc {
	t.Helper()
	traefik := tool(t, "traefik")
	dir := filepath.Join(s.dir, "traefik-"+strings.ReplaceAll(p.Listen, ":", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dynamic := render(t, "traefik/dynamic.yaml.tmpl", dir, "dynamic.yaml", struct {
		proxyParams
		Host string
		TLS  bool
	}{p, "127.0.0.1", false})
	static := render(t, "traefik/traefik.yaml.tmpl", dir, "traefik.yaml", struct{ Listen, Dynamic string }{p.Listen, dynamic})
	return startProc(t, "traefik", syscall.SIGTERM, dir, nil, traefik, "--configFile="+static)
}

// startCaddy runs deploy/caddy/Caddyfile.tmpl.
func startCaddy(t *testing.T, s *stack, p proxyParams) *proc {
	t.Helper()
	caddy := tool(t, "caddy")
	dir := filepath.Join(s.dir, "caddy-"+strings.ReplaceAll(p.Listen, ":", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := render(t, "caddy/Caddyfile.tmpl", dir, "Caddyfile", struct {
		proxyParams
		Admin, Site string
	}{p, "off", "http://" + p.Listen})
	// Caddy keeps its state under XDG_DATA_HOME/XDG_CONFIG_HOME: the
	// stack's directory, never the user's.
	env := []string{"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	if out, err := commandEnv(time.Minute, dir, env, caddy, "validate", "--config", conf, "--adapter", "caddyfile"); err != nil {
		t.Fatalf("e2e: caddy validate: %v\n%s", err, out)
	}
	return startProc(t, "caddy", syscall.SIGTERM, dir, env, caddy, "run", "--config", conf, "--adapter", "caddyfile")
}
