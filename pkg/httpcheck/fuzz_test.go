package httpcheck

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
)

// FuzzToInput feeds raw check requests (as a proxy would send them) through
// the HTTP parser and ToInput, then renders a decision for the result in
// both modes. Nothing may panic, a rejected request yields only its app, and
// an accepted one stays within the limits.
func FuzzToInput(f *testing.F) {
	f.Add("GET /nginx/check/wiki HTTP/1.1\r\nHost: a\r\nX-Original-URI: /x\r\nCookie: a=1; b=\"2\"\r\n\r\n", "wiki")
	f.Add("GET /check?app=x HTTP/1.1\r\nHost: a\r\nX-Forwarded-Uri: /a\r\nX-Forwarded-Uri: /b\r\n\r\n", "")
	f.Add("GET /check HTTP/1.1\r\nHost: a\r\nX-Auth-Request-Email: \xff@x\r\nCookie: ,;=;\r\n\r\n", "")
	f.Fuzz(func(t *testing.T, raw, app string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		o := Options{MaxHeaders: 16, MaxHeaderBytes: 1024}
		mode := Forward
		if strings.HasPrefix(r.URL.Path, PathNginxCheck) {
			mode = Nginx
		}
		in, err := o.ToInput(r, app, mode)
		if err != nil {
			if in.Headers != nil || in.Cookies != nil {
				t.Fatalf("rejected request kept data: %+v", in)
			}
			return
		}
		n, size := 0, 0
		for k, vs := range in.Headers {
			n += len(vs)
			for _, v := range vs {
				size += len(k) + len(v)
			}
		}
		if n > 16 || size > 1024 {
			t.Fatalf("accepted %d headers / %d bytes over the limits", n, size)
		}
		if in.Path == "" || in.Method == "" {
			t.Fatalf("empty method or path: %+v", in)
		}
		d := authz.Decision{Status: 302, Reason: authz.ReasonRekey, App: in.App,
			SetCookies:      []string{"a=b"},
			ResponseHeaders: []authz.Header{{Name: "location", Value: in.Path}}}
		for _, m := range []Mode{Forward, Nginx} {
			resp := FromDecision(d, in, m, o)
			for k, vs := range resp.Header {
				for _, v := range vs {
					if !safeName(k) || !safeValue(v) {
						t.Fatalf("unsafe header %q: %q", k, v)
					}
				}
			}
		}
	})
}
