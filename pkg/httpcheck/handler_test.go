package httpcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/httpcheck"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
)

// observed records what Options.Observe saw.
type observed struct {
	mu      sync.Mutex
	reasons []authz.Reason
}

func (o *observed) observe(_ context.Context, _ authz.Input, d authz.Decision, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reasons = append(o.reasons, d.Reason)
}

// newServer runs the handler over a real engine on memory stores, with an
// app "wiki" that has a native cookie and the nginx Set-Cookie budget.
func newServer(t *testing.T) (*httptest.Server, *observed) {
	t.Helper()
	profiles, err := profile.NewMemory(nil, []authz.Profile{
		{Email: "alice@example.com", Active: true},
		{Email: "bob@example.com", Active: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	wiki := authz.DefaultPolicy("wiki")
	wiki.Cookie.Secure = false
	wiki.NativeCookies = []authz.NativeCookie{{Name: "wiki_session", Path: "/"}}
	wiki.MaxSetCookies = httpcheck.DefaultNginxSetCookies
	eng, err := authz.New(authz.Config{
		Apps: []authz.App{
			{Policy: authz.DefaultPolicy(authz.DefaultApp), Profiles: profiles},
			{Policy: wiki, Profiles: profiles},
		},
		Sessions: session.NewMemory(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	obs := &observed{}
	mux := http.NewServeMux()
	httpcheck.NewHandler(eng, httpcheck.Options{Observe: obs.observe}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, obs
}

type call struct {
	path    string
	headers map[string]string
}

func do(t *testing.T, srv *httptest.Server, c call) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := noFollow(srv).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// noFollow is srv's client without redirects: a check's 302 is an answer
// to inspect, never a place to go.
func noFollow(srv *httptest.Server) *http.Client {
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func sessionCookie(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "extauthz_session" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no extauthz_session in %v", resp.Header.Values("Set-Cookie"))
	return ""
}

// TestPersonChangesBehindNginx plays the story the project exists for
// through the nginx endpoint: alice is bound, then bob arrives with alice's
// cookies and gets a 401 that nginx maps back to a 302 with every cookie.
func TestPersonChangesBehindNginx(t *testing.T) {
	srv, obs := newServer(t)
	nav := map[string]string{"Accept": "text/html", "X-Original-Method": "GET", "X-Original-URI": "/page"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range nav {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	resp := do(t, srv, call{"/nginx/check/wiki", with(map[string]string{"X-Auth-Request-Email": "alice@example.com"})})
	if resp.StatusCode != 200 || resp.Header.Get("X-Extauthz-Reason") != "rekey" {
		t.Fatalf("alice first visit: %d %v", resp.StatusCode, resp.Header)
	}
	alice := sessionCookie(t, resp)
	if resp.Header.Get("X-Extauthz-Set-Cookie-1") != resp.Header.Get("Set-Cookie") {
		t.Errorf("numbered copy differs: %q vs %q", resp.Header.Get("X-Extauthz-Set-Cookie-1"), resp.Header.Get("Set-Cookie"))
	}
	aliceID := resp.Header.Get("X-Profile-Id")
	if aliceID == "" {
		t.Fatal("no X-Profile-Id on allow")
	}

	// Steady state: the profile id, no Set-Cookie, our cookie stripped
	// from what the app sees.
	resp = do(t, srv, call{"/nginx/check/wiki", with(map[string]string{
		"X-Auth-Request-Email": "alice@example.com", "Cookie": alice + "; wiki_session=a1", "X-Profile-Id": "spoofed",
	})})
	if resp.StatusCode != 200 || resp.Header.Get("X-Profile-Id") != aliceID || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("alice steady: %d %v", resp.StatusCode, resp.Header)
	}
	if got := resp.Header.Get("X-Extauthz-Cookie"); got != "wiki_session=a1" {
		t.Errorf("upstream cookie = %q, want wiki_session=a1", got)
	}

	// Bob at the same browser.
	resp = do(t, srv, call{"/nginx/check/wiki", with(map[string]string{
		"X-Auth-Request-Email": "bob@example.com", "Cookie": alice + "; wiki_session=a1",
	})})
	if resp.StatusCode != 401 || resp.Header.Get("X-Extauthz-Status") != "302" || resp.Header.Get("Location") != "/page" {
		t.Fatalf("bob: %d %v", resp.StatusCode, resp.Header)
	}
	sc := resp.Header.Values("Set-Cookie")
	if len(sc) != 2 || resp.Header.Get("X-Extauthz-Set-Cookie-1") != sc[0] || resp.Header.Get("X-Extauthz-Set-Cookie-2") != sc[1] {
		t.Fatalf("bob's cookies: %q / numbered %q %q", sc, resp.Header.Get("X-Extauthz-Set-Cookie-1"), resp.Header.Get("X-Extauthz-Set-Cookie-2"))
	}
	if !strings.HasPrefix(sc[1], "wiki_session=;") {
		t.Errorf("native cookie not expired: %q", sc)
	}

	// The same decision on /check is a real 302 with an absolute Location.
	resp = do(t, srv, call{"/check?app=wiki", map[string]string{
		"Accept": "text/html", "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/page",
		"X-Forwarded-Host": "wiki.example.com", "X-Forwarded-Proto": "https",
		"X-Auth-Request-Email": "alice@example.com", "Cookie": "wiki_session=b1",
	}})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://wiki.example.com/page" {
		t.Fatalf("/check flush: %d %v", resp.StatusCode, resp.Header)
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []authz.Reason{authz.ReasonRekey, authz.ReasonSessionMatch, authz.ReasonIdentityChanged, authz.ReasonRekey}
	if strings.Join(reasonStrings(obs.reasons), ",") != strings.Join(reasonStrings(want), ",") {
		t.Errorf("observed %v, want %v", obs.reasons, want)
	}
}

func reasonStrings(rs []authz.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func TestAppSelectionAndBadRequests(t *testing.T) {
	srv, obs := newServer(t)
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantReason string
	}{
		{"unknown app in path fails closed", call{"/check/nope", nil}, 503, "misconfigured"},
		{"unknown app in query fails closed", call{"/check?app=nope", nil}, 503, "misconfigured"},
		{"unknown app in header fails closed", call{"/check", map[string]string{"X-Extauthz-App": "nope"}}, 503, "misconfigured"},
		{"default app, anonymous", call{"/check", nil}, 200, "anonymous"},
		{"nginx maps 503 to 403", call{"/nginx/check/nope", nil}, 403, "misconfigured"},
		{"ambiguous original request", call{"/check/wiki", nil}, 400, "request_invalid"},
		{"identity sent twice is malformed", call{"/check/wiki", map[string]string{"X-Auth-Request-Email": "a@example.com, b@example.com"}}, 400, "identity_malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.wantReason == "request_invalid" {
				req, _ := http.NewRequest("GET", srv.URL+tt.c.path, nil)
				req.Header.Add("X-Forwarded-Uri", "/a")
				req.Header.Add("X-Forwarded-Uri", "/b")
				var err error
				if resp, err = noFollow(srv).Do(req); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				resp = do(t, srv, tt.c)
			}
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Extauthz-Reason") != tt.wantReason {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Extauthz-Reason"), tt.wantStatus, tt.wantReason)
			}
		})
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.reasons) != len(tests) {
		t.Errorf("observed %d decisions, want %d", len(obs.reasons), len(tests))
	}
}
