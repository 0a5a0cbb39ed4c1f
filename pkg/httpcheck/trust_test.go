package httpcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/httpcheck"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
)

// inputs records the inputs Options.Observe saw.
type inputs struct {
	mu  sync.Mutex
	ins []authz.Input
}

func (o *inputs) observe(_ context.Context, in authz.Input, _ authz.Decision, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ins = append(o.ins, in)
}

func (o *inputs) last(t *testing.T) authz.Input {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ins) == 0 {
		t.Fatal("no decision observed")
	}
	return o.ins[len(o.ins)-1]
}

// newTrustServer runs the handler with opts over an app "plane" whose
// bypass is /god-mode, with blocked mallory: the shape of the attack on the
// forwarding headers.
func newTrustServer(t *testing.T, opts httpcheck.Options) (*httptest.Server, *inputs) {
	t.Helper()
	profiles, err := profile.NewMemory(nil, []authz.Profile{
		{Email: "alice@example.com", Active: true},
		{Email: "mallory@example.com", Active: true, Blocked: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	plane := authz.DefaultPolicy("plane")
	plane.Cookie.Secure = false
	plane.BypassPrefixes = []string{"/god-mode"}
	eng, err := authz.New(authz.Config{
		Apps: []authz.App{
			{Policy: authz.DefaultPolicy(authz.DefaultApp), Profiles: profiles},
			{Policy: plane, Profiles: profiles},
		},
		Sessions: session.NewMemory(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	obs := &inputs{}
	opts.Observe = obs.observe
	mux := http.NewServeMux()
	httpcheck.NewHandler(eng, opts).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, obs
}

// TestEndpointsTrustOnlyTheirProxysHeaders: Traefik and Caddy pass every
// client header to the check, and nginx's auth subrequest inherits them
// too, so each endpoint must read the original request only from the
// headers its own proxy sets. A client's X-Original-URI on /check (or
// X-Forwarded-Uri on /nginx/check) must not choose the path judged.
func TestEndpointsTrustOnlyTheirProxysHeaders(t *testing.T) {
	srv, obs := newTrustServer(t, httpcheck.Options{})
	mallory := "mallory@example.com"
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantReason string
		want       authz.Input // Method, Path, Host, Scheme compared
	}{
		{
			name: "forward endpoint ignores X-Original-URI/-Method",
			c: call{"/check/plane", map[string]string{
				"X-Original-URI": "/god-mode", "X-Original-Method": "OPTIONS",
				"X-Forwarded-Uri": "/api/workspaces/secret", "X-Forwarded-Method": "GET",
				"X-Forwarded-Host": "plane.example.com", "X-Forwarded-Proto": "https",
				"X-Auth-Request-Email": mallory,
			}},
			wantStatus: 403, wantReason: "profile_blocked",
			want: authz.Input{Method: "GET", Path: "/api/workspaces/secret", Host: "plane.example.com", Scheme: "https"},
		},
		{
			name: "forward endpoint without X-Forwarded-Uri does not fall back to X-Original-URI",
			c: call{"/check/plane", map[string]string{
				"X-Original-URI": "/god-mode", "X-Forwarded-Host": "plane.example.com",
				"X-Auth-Request-Email": mallory,
			}},
			wantStatus: 403, wantReason: "profile_blocked",
			want: authz.Input{Method: "GET", Path: "/", Host: "plane.example.com", Scheme: "http"},
		},
		{
			name: "nginx endpoint ignores X-Forwarded-Uri/-Method/-Host",
			c: call{"/nginx/check/plane", map[string]string{
				"X-Forwarded-Uri": "/god-mode", "X-Forwarded-Method": "OPTIONS", "X-Forwarded-Host": "evil.example",
				"X-Original-URI": "/api/workspaces/secret", "X-Original-Method": "POST",
				"X-Forwarded-Proto": "https", "X-Auth-Request-Email": mallory,
			}},
			wantStatus: 403, wantReason: "profile_blocked",
			want: authz.Input{Method: "POST", Path: "/api/workspaces/secret", Scheme: "https"},
		},
		{
			name: "nginx endpoint without X-Original-URI does not fall back to X-Forwarded-Uri",
			c: call{"/nginx/check/plane", map[string]string{
				"X-Forwarded-Uri": "/god-mode", "X-Auth-Request-Email": mallory,
			}},
			wantStatus: 403, wantReason: "profile_blocked",
			want: authz.Input{Method: "GET", Path: "/", Scheme: "http"},
		},
		{
			name: "the proxy's own header still bypasses",
			c: call{"/check/plane", map[string]string{
				"X-Forwarded-Uri": "/god-mode/x", "X-Auth-Request-Email": mallory,
			}},
			wantStatus: 200, wantReason: "bypass",
			want: authz.Input{Method: "GET", Path: "/god-mode/x", Scheme: "http"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.c)
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Extauthz-Reason") != tt.wantReason {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Extauthz-Reason"), tt.wantStatus, tt.wantReason)
			}
			in := obs.last(t)
			if tt.want.Host == "" {
				tt.want.Host = resp.Request.URL.Host // the check request's own Host
			}
			if in.Method != tt.want.Method || in.Path != tt.want.Path || in.Host != tt.want.Host || in.Scheme != tt.want.Scheme {
				t.Errorf("judged %s %s://%s%s, want %s %s://%s%s", in.Method, in.Scheme, in.Host, in.Path,
					tt.want.Method, tt.want.Scheme, tt.want.Host, tt.want.Path)
			}
		})
	}
}
