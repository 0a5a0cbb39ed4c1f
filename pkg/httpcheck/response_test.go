package httpcheck

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extauthz/extauthz/pkg/authz"
)

func TestFromDecision(t *testing.T) {
	in := authz.Input{
		App: "plane", Method: "GET", Scheme: "https", Host: "plane.example.com", Path: "/x?y=1",
		Headers: authz.Headers{"cookie": {"a=1; extauthz_session=t", "b=2"}},
	}
	noCookies := authz.Input{App: "plane", Scheme: "https", Host: "plane.example.com", Headers: authz.Headers{}}
	reason := func(r authz.Reason) authz.Header { return authz.Header{Name: "x-extauthz-reason", Value: string(r)} }
	noStore := authz.Header{Name: "cache-control", Value: "no-store"}
	jsonCT := authz.Header{Name: "content-type", Value: "application/json"}

	rekey302 := authz.Decision{
		Status: 302, Reason: authz.ReasonIdentityChanged, App: "plane", Flushed: true,
		SetCookies: []string{"extauthz_session=new; Path=/", "session-id=; Max-Age=0"},
		ResponseHeaders: []authz.Header{
			{Name: "clear-site-data", Value: `"cache", "storage"`},
			{Name: "location", Value: "/x?y=1"}, noStore, reason(authz.ReasonIdentityChanged),
		},
	}
	unavailable := authz.Decision{
		Status: 503, Reason: authz.ReasonLookupUnavailable, App: "plane", Body: `{"error":"lookup_unavailable"}`,
		ResponseHeaders: []authz.Header{noStore, {Name: "retry-after", Value: "2"}, jsonCT, reason(authz.ReasonLookupUnavailable)},
	}

	tests := []struct {
		name string
		d    authz.Decision
		in   authz.Input
		mode Mode
		opts Options
		want Response
	}{
		{
			name: "allow with profile and rewritten cookie",
			d: authz.Decision{
				Allow: true, Status: 200, Reason: authz.ReasonSessionMatch, App: "plane", ProfileID: "p1",
				UpstreamSet:     []authz.Header{{Name: "x-profile-id", Value: "p1"}, {Name: "cookie", Value: "a=1; b=2"}},
				UpstreamRemove:  []string{"x-auth-secret"},
				ResponseHeaders: []authz.Header{reason(authz.ReasonSessionMatch)},
			},
			in: in, mode: Nginx,
			want: Response{Status: 200, Header: http.Header{
				"X-Profile-Id": {"p1"}, "X-Extauthz-Cookie": {"a=1; b=2"}, "X-Extauthz-Reason": {"session_match"},
			}},
		},
		{
			name: "allow with cookie unchanged still names it",
			d: authz.Decision{
				Allow: true, Status: 200, Reason: authz.ReasonBypass, App: "plane",
				UpstreamRemove: []string{"x-profile-id"},
			},
			in: in, mode: Forward,
			want: Response{Status: 200, Header: http.Header{
				"X-Extauthz-Cookie": {"a=1; extauthz_session=t; b=2"}, "Cookie": {"a=1; extauthz_session=t; b=2"},
			}},
		},
		{
			name: "allow on /check also names the rewritten cookie Cookie",
			d: authz.Decision{
				Allow: true, Status: 200, Reason: authz.ReasonSessionMatch, App: "plane", ProfileID: "p1",
				UpstreamSet: []authz.Header{{Name: "x-profile-id", Value: "p1"}, {Name: "cookie", Value: "a=1; b=2"}},
			},
			in: in, mode: Forward,
			want: Response{Status: 200, Header: http.Header{
				"X-Profile-Id": {"p1"}, "X-Extauthz-Cookie": {"a=1; b=2"}, "Cookie": {"a=1; b=2"},
			}},
		},
		{
			name: "allow on /check with cookie removed sends no Cookie",
			d: authz.Decision{
				Allow: true, Status: 200, Reason: authz.ReasonPassThrough, App: "plane",
				UpstreamRemove: []string{"cookie", "x-profile-id"},
			},
			in: in, mode: Forward,
			want: Response{Status: 200, Header: http.Header{"X-Extauthz-Cookie": {""}}},
		},
		{
			name: "allow with cookie removed sends it empty",
			d: authz.Decision{
				Allow: true, Status: 200, Reason: authz.ReasonRekey, App: "plane", ProfileID: "p1",
				UpstreamSet:    []authz.Header{{Name: "x-profile-id", Value: "p1"}},
				UpstreamRemove: []string{"cookie"},
				SetCookies:     []string{"extauthz_session=n; Path=/"},
			},
			in: in, mode: Nginx,
			want: Response{Status: 200, Header: http.Header{
				"X-Profile-Id": {"p1"}, "X-Extauthz-Cookie": {""},
				"Set-Cookie": {"extauthz_session=n; Path=/"}, "X-Extauthz-Set-Cookie-1": {"extauthz_session=n; Path=/"},
			}},
		},
		{
			name: "allow without cookies sends no cookie header",
			d:    authz.Decision{Allow: true, Status: 200, Reason: authz.ReasonAnonymous, App: "plane"},
			in:   noCookies, mode: Nginx,
			want: Response{Status: 200, Header: http.Header{}},
		},
		{
			name: "flush redirect for nginx is a 401 carrying 302",
			d:    rekey302, in: in, mode: Nginx,
			want: Response{Status: 401, Header: http.Header{
				"X-Extauthz-Status":       {"302"},
				"Set-Cookie":              {"extauthz_session=new; Path=/", "session-id=; Max-Age=0"},
				"X-Extauthz-Set-Cookie-1": {"extauthz_session=new; Path=/"},
				"X-Extauthz-Set-Cookie-2": {"session-id=; Max-Age=0"},
				"Clear-Site-Data":         {`"cache", "storage"`},
				"Location":                {"/x?y=1"},
				"Cache-Control":           {"no-store"},
				"X-Extauthz-Reason":       {"identity_changed"},
			}},
		},
		{
			name: "flush redirect for traefik is a real 302 to an absolute URL",
			d:    rekey302, in: in, mode: Forward,
			want: Response{Status: 302, Header: http.Header{
				"Set-Cookie":        {"extauthz_session=new; Path=/", "session-id=; Max-Age=0"},
				"Clear-Site-Data":   {`"cache", "storage"`},
				"Location":          {"https://plane.example.com/x?y=1"},
				"Cache-Control":     {"no-store"},
				"X-Extauthz-Reason": {"identity_changed"},
			}},
		},
		{
			name: "unavailable for nginx is a 403 carrying 503",
			d:    unavailable, in: in, mode: Nginx,
			want: Response{Status: 403, Body: `{"error":"lookup_unavailable"}`, Header: http.Header{
				"X-Extauthz-Status": {"503"}, "Cache-Control": {"no-store"}, "Retry-After": {"2"},
				"Content-Type": {"application/json"}, "X-Extauthz-Reason": {"lookup_unavailable"},
			}},
		},
		{
			name: "unavailable passes through on /check",
			d:    unavailable, in: in, mode: Forward,
			want: Response{Status: 503, Body: `{"error":"lookup_unavailable"}`, Header: http.Header{
				"Cache-Control": {"no-store"}, "Retry-After": {"2"},
				"Content-Type": {"application/json"}, "X-Extauthz-Reason": {"lookup_unavailable"},
			}},
		},
		{
			name: "401 stays 401 on nginx and says so",
			d: authz.Decision{Status: 401, Reason: authz.ReasonIdentityMissing, App: "plane", Body: "{}",
				ResponseHeaders: []authz.Header{noStore}},
			in: in, mode: Nginx,
			want: Response{Status: 401, Body: "{}", Header: http.Header{"X-Extauthz-Status": {"401"}, "Cache-Control": {"no-store"}}},
		},
		{
			name: "400 becomes 401 on nginx",
			d:    authz.Decision{Status: 400, Reason: authz.ReasonIdentityMalformed, App: "plane"},
			in:   in, mode: Nginx,
			want: Response{Status: 401, Header: http.Header{"X-Extauthz-Status": {"400"}}},
		},
		{
			name: "500 becomes 403 on nginx",
			d:    authz.Decision{Status: 500, Reason: authz.ReasonLookupError, App: "plane"},
			in:   in, mode: Nginx,
			want: Response{Status: 403, Header: http.Header{"X-Extauthz-Status": {"500"}}},
		},
		{
			name: "more Set-Cookies than nginx maps fails closed",
			d: authz.Decision{Allow: true, Status: 200, Reason: authz.ReasonIdentityChanged, App: "plane",
				SetCookies:      []string{"a=", "b=", "c="},
				ResponseHeaders: []authz.Header{reason(authz.ReasonIdentityChanged)}},
			in: in, mode: Nginx, opts: Options{NginxSetCookies: 2},
			want: Response{Status: 403,
				Body: `{"error":"misconfigured","detail":"more than 2 Set-Cookie lines for nginx: set the app's max_set_cookies to 2"}`,
				Header: http.Header{"X-Extauthz-Status": {"500"}, "Cache-Control": {"no-store"},
					"Content-Type": {"application/json"}, "X-Extauthz-Reason": {"misconfigured"}}},
		},
		{
			name: "a header value with CR LF fails closed",
			d: authz.Decision{Allow: true, Status: 200, Reason: authz.ReasonSessionMatch, App: "plane",
				UpstreamSet:     []authz.Header{{Name: "x-profile-id", Value: "p1\r\nX-Evil: 1"}},
				ResponseHeaders: []authz.Header{reason(authz.ReasonSessionMatch)}},
			in: in, mode: Forward,
			want: Response{Status: 500, Body: `{"error":"misconfigured"}`,
				Header: http.Header{"Cache-Control": {"no-store"}, "Content-Type": {"application/json"},
					"X-Extauthz-Reason": {"misconfigured"}}},
		},
		{
			name: "a hostile host keeps the Location relative",
			d:    rekey302, in: authz.Input{Scheme: "https", Host: "evil.example/@x", Headers: authz.Headers{}}, mode: Forward,
			want: Response{Status: 302, Header: http.Header{
				"Set-Cookie":        {"extauthz_session=new; Path=/", "session-id=; Max-Age=0"},
				"Clear-Site-Data":   {`"cache", "storage"`},
				"Location":          {"/x?y=1"},
				"Cache-Control":     {"no-store"},
				"X-Extauthz-Reason": {"identity_changed"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromDecision(tt.d, tt.in, tt.mode, tt.opts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}
