package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// appName is the app's name in the extauthz config and the proxy configs.
const appName = "demo"

// appCookie is the protected app's own session cookie.
const appCookie = "app_session"

// repoRoot is the module root, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	nginxOnce sync.Once
	nginxErr  error
	nginxPath string
)

// requireNginx installs nginx from Debian packages when missing and
// returns its path; it fails the test, never skips it, when that is
// impossible.
func requireNginx(t *testing.T) string {
	t.Helper()
	nginxOnce.Do(func() {
		if _, err := findNginx(); err != nil {
			if out, err := command(10*time.Minute, repoRoot(), "scripts/deps.sh", "e2e"); err != nil {
				nginxErr = fmt.Errorf("installing nginx with scripts/deps.sh failed: %v\n%s", err, out)
				return
			}
		}
		nginxPath, nginxErr = findNginx()
	})
	if nginxErr != nil {
		t.Fatalf("e2e: %v", nginxErr)
	}
	return nginxPath
}

func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", fmt.Errorf("nginx is not installed (apt-get install nginx-light)")
}

// command runs a command to completion with a deadline.
func command(limit time.Duration, dir, name string, args ...string) ([]byte, error) {
	return commandEnv(limit, dir, nil, name, args...)
}

// commandEnv is command with extra environment (KEY=VALUE).
func commandEnv(limit time.Duration, dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	return cmd.CombinedOutput()
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return harness.FreeAddr(t)
}

// proc is a child process owned by one test.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
	mu   *sync.Mutex
}

// lockedWriter serialises writes to a buffer shared with readers.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startProc starts a child that dies with the test process (parent-death
// signal, from a thread that lives as long as the child) and is stopped by
// its PID in t's cleanup. env is extra environment (KEY=VALUE).
func startProc(t *testing.T, name string, stop os.Signal, dir string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{}), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	w := lockedWriter{p.mu, p.log}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd = cmd
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // Pdeathsig follows the forking thread
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("e2e: starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(stop)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHTTP polls url until it answers want, the process exits, or the
// deadline passes.
func waitHTTP(t *testing.T, p *proc, u string, want int) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, CheckRedirect: noRedirect}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			t.Fatalf("e2e: %s exited before %s answered:\n%s", p.name, u, p.output())
		}
		resp, err := client.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("e2e: %s did not answer %d within 60s (last: %s)", u, want, last)
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// app is the protected upstream. Like the apps in the field it keeps its
// own session: on a request without its cookie it creates one for the
// X-Auth-Request-Email the proxy forwards, and afterwards trusts the cookie
// alone.
type app struct {
	srv *httptest.Server

	mu       sync.Mutex
	sessions map[string]string // app_session value → email
	seen     []appRequest
}

// appRequest is what one request looked like when it reached the app.
type appRequest struct {
	Method    string
	URI       string // the request target as received
	Email     string // X-Auth-Request-Email
	ProfileID string // X-Profile-Id
	Cookie    string // the Cookie header
	Auth      string // the Authorization header
	Shown     string // who the page said the user is
}

func newApp(t *testing.T) *app {
	a := &app{sessions: map[string]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	email := r.Header.Get("X-Auth-Request-Email")
	user := ""
	if c, err := r.Cookie(appCookie); err == nil {
		user = a.sessions[c.Value]
	}
	if user == "" && email != "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		v := hex.EncodeToString(b[:])
		a.sessions[v] = email
		user = email
		http.SetCookie(w, &http.Cookie{Name: appCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	shown := user
	if shown == "" {
		shown = "nobody"
	}
	a.seen = append(a.seen, appRequest{Method: r.Method, URI: r.RequestURI, Email: email, ProfileID: r.Header.Get("X-Profile-Id"), Cookie: r.Header.Get("Cookie"),
		Auth: r.Header.Get("Authorization"), Shown: shown})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Demo app</title><h1 id=\"user\">Signed in as %s</h1><p id=\"profile\">profile %s</p>\n",
		html.EscapeString(shown), html.EscapeString(r.Header.Get("X-Profile-Id")))
}

// requests returns what reached the app so far.
func (a *app) requests() []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]appRequest(nil), a.seen...)
}

// stack is every component of one end-to-end run, each real and on
// loopback: mock IdP → oauth2-proxy → front end → extauthz (PostgreSQL) →
// app.
type stack struct {
	FE    *frontend
	Edge  string // http://127.0.0.1:port, the front end's public address
	IdP   *mockoidc.MockOIDC
	App   *app
	PG    *pgtest.Cluster  // nil without extauthz
	DBURL string           // "" without extauthz
	Authz *harness.Service // nil without extauthz
	Proxy *proc
	O2P   *proc
	o2p   string // oauth2-proxy's address
	dir   string
	opts  stackOptions
}

// stackOptions change a stack from the default one.
type stackOptions struct {
	// config, when set, is extauthz's configuration, made once the mock
	// IdP's issuer and client id are known (else the front end's).
	config func(issuer, clientID string) string
	// identityJWT runs oauth2-proxy with --set-authorization-header and
	// renders the front end's identity_jwt wiring (the id_token to
	// extauthz, the back-channel logout endpoint).
	identityJWT bool
	// o2pWithoutToken runs oauth2-proxy without --set-authorization-header
	// while the front end is still rendered for identity_jwt: oauth2-proxy's
	// answer has no Authorization.
	o2pWithoutToken bool
}

// newStack starts everything behind front end fe; withExtauthz false
// removes extauthz from the chain (the control run).
func newStack(t *testing.T, fe *frontend, withExtauthz bool) *stack {
	t.Helper()
	return newStackWith(t, fe, withExtauthz, stackOptions{})
}

// newStackWith is newStack changed by o.
func newStackWith(t *testing.T, fe *frontend, withExtauthz bool, o stackOptions) *stack {
	t.Helper()
	if _, err := command(10*time.Minute, repoRoot(), "scripts/tool.sh", "oauth2-proxy", "--version"); err != nil {
		t.Fatalf("e2e: installing oauth2-proxy with scripts/tool.sh failed: %v", err)
	}
	s := &stack{FE: fe, dir: shortTempDir(t), opts: o}

	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatalf("e2e: mockoidc: %v", err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	s.IdP = idp
	s.App = newApp(t)

	edgeAddr, o2pAddr := freeAddr(t), freeAddr(t)
	s.Edge, s.o2p = "http://"+edgeAddr, o2pAddr

	cfg := idp.Config()
	extauthzAddr := "127.0.0.1:1" // never used without extauthz
	if withExtauthz {
		s.PG = pgtest.NewCluster(t)
		s.DBURL = s.PG.NewDatabase(t)
		conf := fe.config
		if o.config != nil {
			conf = o.config(cfg.Issuer, cfg.ClientID)
		}
		s.Authz = harness.Start(t, harness.Options{Config: conf, DatabaseURL: s.DBURL})
		extauthzAddr = s.Authz.CheckAddr
	}

	cookieSecret := make([]byte, 16)
	_, _ = rand.Read(cookieSecret)
	var extra []string
	if o.identityJWT && !o.o2pWithoutToken {
		// The id_token rides on /oauth2/auth's answer as
		// "Authorization: Bearer <id_token>" (on /oauth2/auth and, for
		// Traefik, on its proxy-mode answer at /).
		extra = append(extra, "--set-authorization-header=true")
	}
	s.O2P = startProc(t, "oauth2-proxy", syscall.SIGTERM, repoRoot(), nil, append([]string{
		"scripts/tool.sh", "oauth2-proxy",
		"--http-address=" + o2pAddr,
		"--provider=oidc",
		"--provider-display-name=Mock IdP",
		"--oidc-issuer-url=" + cfg.Issuer,
		"--client-id=" + cfg.ClientID,
		"--client-secret=" + cfg.ClientSecret,
		"--redirect-url=" + s.Edge + "/oauth2/callback",
		"--cookie-secret=" + hex.EncodeToString(cookieSecret), // 32 characters
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream=static://200",
		"--reverse-proxy=true",
		"--set-xauthrequest=true",
		"--skip-provider-button=false",
	}, extra...)...)
	waitHTTP(t, s.O2P, "http://"+o2pAddr+"/ping", 200)

	s.Proxy = fe.start(t, s, proxyParams{
		Listen: edgeAddr, OAuth2Proxy: o2pAddr, Extauthz: extauthzAddr,
		App: strings.TrimPrefix(s.App.srv.URL, "http://"), AppName: appName, WithExtauthz: withExtauthz,
		IdentityJWT: o.identityJWT,
	})
	// Without a session the public address answers oauth2-proxy's sign-in
	// page (or a redirect to it): the proxy, oauth2-proxy and their wiring
	// are up.
	waitHTTP(t, s.Proxy, s.Edge+"/", fe.unauthStatus)
	return s
}

// edgeFor starts a second instance of the stack's front end, on the same
// oauth2-proxy, extauthz and app, for the extauthz app name (the shipped
// config names one app), and returns its public URL. Cookies are per host,
// not per port, so a browser signed in at s.Edge is signed in there too.
func (s *stack) edgeFor(t *testing.T, name string) string {
	t.Helper()
	addr := freeAddr(t)
	p := s.FE.start(t, s, proxyParams{
		Listen: addr, OAuth2Proxy: s.o2p, Extauthz: s.Authz.CheckAddr,
		App: strings.TrimPrefix(s.App.srv.URL, "http://"), AppName: name, WithExtauthz: true,
		IdentityJWT: s.opts.identityJWT,
	})
	waitHTTP(t, p, "http://"+addr+"/", s.FE.unauthStatus)
	return "http://" + addr
}

// shortTempDir is a temporary directory removed in t's cleanup (nginx runs
// there; it must be readable by nginx's worker user when run as root).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "extauthz-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// user is an IdP account.
type user struct{ Email, Name string }

var (
	alice   = user{"alice@example.com", "alice"}
	bob     = user{"bob@example.com", "bob"}
	charlie = user{"charlie@example.com", "charlie"}
	dave    = user{"dave@example.com", "dave"}
	erin    = user{"erin@example.com", "erin"}
	mallory = user{"mallory@example.com", "mallory"} // blocked
)

func (u user) mock() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: u.Name + "-sub", Email: u.Email, EmailVerified: true, PreferredUsername: u.Name}
}

// browser is an HTTP client with a cookie jar that follows redirects by
// hand, so every hop can be inspected.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	jar    *cookiejar.Jar
}

// hop is one response on the way.
type hop struct {
	URL    string
	Status int
	Header http.Header
	Body   string
}

func (s *stack) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: s.Edge, jar: jar,
		client: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: noRedirect}}
}

// get loads path like a browser navigation and follows redirects (at most
// 10), returning every hop; the last is the page shown.
func (b *browser) get(path string, header ...string) []hop {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.base + path
	}
	var hops []hop
	for range 10 {
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			b.t.Fatal(err)
		}
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatalf("e2e: GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		hops = append(hops, hop{URL: u, Status: resp.StatusCode, Header: resp.Header, Body: string(body)})
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return hops
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("e2e: bad Location %q: %v", loc, err)
		}
		u = next.String()
	}
	b.t.Fatalf("e2e: more than 10 redirects from %s:%s", path, describe(hops))
	return nil
}

// page returns the last hop.
func page(hops []hop) hop { return hops[len(hops)-1] }

// shown returns who the demo app said the user is ("" if the page is not
// the app's).
func shown(h hop) string {
	const pre = `<h1 id="user">Signed in as `
	i := strings.Index(h.Body, pre)
	if i < 0 {
		return ""
	}
	rest := h.Body[i+len(pre):]
	j := strings.Index(rest, "</h1>")
	if j < 0 {
		return ""
	}
	return html.UnescapeString(rest[:j])
}

// isSignInPage says h is oauth2-proxy's sign-in page: 403 at the URL
// asked for (nginx's error_page, Traefik), or 200 at /oauth2/sign_in after
// a redirect (Caddy).
func isSignInPage(h hop) bool {
	return (h.Status == 403 || h.Status == 200) && strings.Contains(h.Body, "Sign in with") && shown(h) == ""
}

// signIn signs u in through oauth2-proxy's sign-in page and the IdP and
// returns the hops from pressing the sign-in button to the first page.
func (s *stack) signIn(b *browser, u user) []hop {
	b.t.Helper()
	hops := b.get("/")
	if p := page(hops); !isSignInPage(p) {
		b.t.Fatalf("e2e: expected oauth2-proxy's sign-in page before signing in, got %d:%s\n%s", p.Status, describe(hops), p.Body)
	}
	s.IdP.QueueUser(u.mock())
	// The page's button submits a GET form to /oauth2/start with rd.
	return b.get("/oauth2/start?rd=" + url.QueryEscape("/"))
}

// signOut signs out of oauth2-proxy only, as "log out of everything" does:
// the app's own cookie stays in the browser.
func (b *browser) signOut() {
	b.t.Helper()
	hops := b.get("/oauth2/sign_out?rd=" + url.QueryEscape("/"))
	if p := page(hops); !isSignInPage(p) {
		b.t.Fatalf("e2e: expected the sign-in page after signing out, got %d:%s\n%s", p.Status, describe(hops), p.Body)
	}
}

// cookie returns the jar's value of name for the edge ("" if none).
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie puts name=value into the jar for the edge.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// eventually polls fn until it returns "" or the deadline passes.
func eventually(t *testing.T, limit time.Duration, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		if last = fn(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("e2e: not within %v: %s", limit, last)
}
