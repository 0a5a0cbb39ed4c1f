package httpcheck

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

func checkRequest(method, target string, lines ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, "host") {
			r.Host = strings.TrimSpace(v)
			continue
		}
		r.Header.Add(k, strings.TrimSpace(v))
	}
	return r
}

func TestToInput(t *testing.T) {
	tests := []struct {
		name    string
		r       *http.Request
		pathApp string
		mode    Mode
		want    authz.Input
		wantErr error
	}{
		{
			name: "nginx auth_request",
			r: checkRequest("GET", "http://127.0.0.1:9090/nginx/check",
				"Host: app.example.com", "X-Original-Method: post", "X-Original-URI: /a/b?c=d",
				"X-Forwarded-Proto: https", "Cookie: a=1; extauthz_session=t", "X-Request-Id: r1"),
			pathApp: "plane",
			mode:    Nginx,
			want: authz.Input{
				App: "plane", Method: "POST", Scheme: "https", Host: "app.example.com", Path: "/a/b?c=d",
				Headers: authz.Headers{
					"x-original-method": {"post"}, "x-original-uri": {"/a/b?c=d"}, "x-forwarded-proto": {"https"},
					"cookie": {"a=1; extauthz_session=t"}, "x-request-id": {"r1"},
				},
				Cookies:   []cookie.Cookie{{Name: "a", Value: "1"}, {Name: "extauthz_session", Value: "t"}},
				RequestID: "r1",
			},
		},
		{
			name: "traefik forwardauth",
			r: checkRequest("GET", "http://extauthz:9090/check?app=wiki",
				"X-Forwarded-Method: DELETE", "X-Forwarded-Uri: /api/x", "X-Forwarded-Host: wiki.example.com",
				"X-Forwarded-Proto: https"),
			want: authz.Input{
				App: "wiki", Method: "DELETE", Scheme: "https", Host: "wiki.example.com", Path: "/api/x",
				Headers: authz.Headers{
					"x-forwarded-method": {"DELETE"}, "x-forwarded-uri": {"/api/x"},
					"x-forwarded-host": {"wiki.example.com"}, "x-forwarded-proto": {"https"},
				},
			},
		},
		{
			name: "app from header; defaults from the check request",
			r:    checkRequest("HEAD", "http://extauthz:9090/check", "X-Extauthz-App: crm"),
			want: authz.Input{
				App: "crm", Method: "HEAD", Scheme: "http", Host: "extauthz:9090", Path: "/",
				Headers: authz.Headers{"x-extauthz-app": {"crm"}},
			},
		},
		{
			name:    "path app wins over query and header",
			r:       checkRequest("GET", "http://e/check/a?app=b", "X-Extauthz-App: c"),
			pathApp: "a",
			want: authz.Input{
				App: "a", Method: "GET", Scheme: "http", Host: "e", Path: "/",
				Headers: authz.Headers{"x-extauthz-app": {"c"}},
			},
		},
		{
			name: "repeated identity and cookie lines stay separate",
			r: checkRequest("GET", "http://e/check",
				"X-Auth-Request-Email: a@x.io", "X-Auth-Request-Email: b@x.io", "Cookie: a=1", "Cookie: b=2"),
			want: authz.Input{
				Method: "GET", Scheme: "http", Host: "e", Path: "/",
				Headers: authz.Headers{
					"x-auth-request-email": {"a@x.io", "b@x.io"}, "cookie": {"a=1", "b=2"},
				},
				Cookies: []cookie.Cookie{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}},
			},
		},
		{
			name:    "forwarding header twice is ambiguous",
			r:       checkRequest("GET", "http://e/nginx/check/x", "X-Original-URI: /a", "X-Original-URI: /b"),
			pathApp: "x",
			mode:    Nginx,
			want:    authz.Input{App: "x"},
			wantErr: ErrAmbiguousOriginal,
		},
		{
			name:    "too many header lines",
			r:       checkRequest("GET", "http://e/check", strings.Split(strings.Repeat("X-A: 1\n", DefaultMaxHeaders+1), "\n")[:DefaultMaxHeaders+1]...),
			wantErr: ErrTooManyHeaders,
		},
		{
			name: "a comma and quotes belong to a cookie value",
			r:    checkRequest("GET", "http://e/check", `Cookie: ga=GA1.2.3,x=y; q="v"`),
			want: authz.Input{
				Method: "GET", Scheme: "http", Host: "e", Path: "/",
				Headers: authz.Headers{"cookie": {`ga=GA1.2.3,x=y; q="v"`}},
				Cookies: []cookie.Cookie{{Name: "ga", Value: "GA1.2.3,x=y"}, {Name: "q", Value: `"v"`}},
			},
		},
		{
			name:    "too many cookies",
			r:       checkRequest("GET", "http://e/check", "Cookie: "+strings.Repeat("a=1;", cookie.MaxCookies), "Cookie: extauthz_session=t"),
			wantErr: cookie.ErrTooManyCookies,
		},
		{
			name:    "headers too large",
			r:       checkRequest("GET", "http://e/check", "Cookie: a="+strings.Repeat("x", DefaultMaxHeaderBytes)),
			wantErr: ErrHeadersTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToInput(tt.r, tt.pathApp, tt.mode)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got.App != tt.want.App || got.Headers != nil {
					t.Fatalf("rejected input = %+v, want only App %q", got, tt.want.App)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOriginConfigurable: each endpoint family reads the headers its
// Origin names, and nothing else.
func TestOriginConfigurable(t *testing.T) {
	o := Options{
		NginxOrigin:   Origin{Method: "X-Nginx-Method", URI: "X-Nginx-Uri", Host: "X-Nginx-Host", Proto: "X-Nginx-Proto"},
		ForwardOrigin: Origin{URI: "X-Edge-Uri"},
	}
	r := checkRequest("PUT", "http://e/check",
		"X-Nginx-Method: delete", "X-Nginx-Uri: /n", "X-Nginx-Host: n.example.com", "X-Nginx-Proto: https",
		"X-Edge-Uri: /f", "X-Forwarded-Uri: /x", "X-Original-URI: /y", "X-Forwarded-Host: x.example.com",
		"X-Forwarded-Method: PATCH", "X-Forwarded-Proto: https")
	in, err := o.ToInput(r, "", Nginx)
	if err != nil {
		t.Fatal(err)
	}
	if in.Method != "DELETE" || in.Path != "/n" || in.Host != "n.example.com" || in.Scheme != "https" {
		t.Errorf("nginx origin: %s %s://%s%s", in.Method, in.Scheme, in.Host, in.Path)
	}
	in, err = o.ToInput(r, "", Forward)
	if err != nil {
		t.Fatal(err)
	}
	if in.Method != "PUT" || in.Path != "/f" || in.Host != "e" || in.Scheme != "http" {
		t.Errorf("forward origin: %s %s://%s%s", in.Method, in.Scheme, in.Host, in.Path)
	}
}
