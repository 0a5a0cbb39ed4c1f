package envoy

import (
	"context"
	"google.golang.org/protobuf/proto"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

var fuzzApps = []string{"", "wiki", "strict", "tracker", "nope"}

// FuzzCheck feeds arbitrary header names, values, cookies and paths through
// ToInput → Decide → FromDecision against the golden world and checks that
// nothing panics, that no allow carries a profile id the fake stores did not
// hand out (or skips stripping the client's copy), and that every emitted
// header is one Envoy accepts. Seeds: testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add(uint8(0), "GET", "/", "alice@example.com", "", "extauthz_session="+string(tok(1)), []byte(nil), "accept", []byte("text/html"))
	f.Add(uint8(3), "GET", "/static/../admin", "alice@example.com", "alice", "tracker_sid=x; extauthz_session="+string(tok(5)), []byte("a=1,b=2"), "sec-fetch-mode", []byte("navigate"))
	f.Add(uint8(3), "POST", "/api", "", "", "", []byte(nil), "Authorization", []byte("Token tok_valid"))
	f.Add(uint8(1), "GET", "/\r\nx: y", "Carol@Example.com,carol@example.com", "carol", "", []byte("\xff"), "x-auth-request-email", []byte("\xffbob@example.com"))
	f.Add(uint8(2), "HEAD", "//evil.example/", "x\r\ny@example.com", "\x00", "extauthz_session=v1.\r\n", []byte("extauthz_session="+string(tok(4))), "x-profile-id", []byte("p-admin"))
	// A cookie that is not UTF-8 beside the service cookie: the rewritten
	// upstream Cookie header once made the response unmarshallable.
	f.Add(uint8(0), "GET", "/", "alice@example.com", "", "", []byte("theme=\xff\xfe; extauthz_session="+string(tok(1))), "accept", []byte("text/html"))
	f.Fuzz(func(t *testing.T, app uint8, method, path, email, user, cookieMap string, cookieRaw []byte, hname string, hval []byte) {
		w := newWorld(t)
		m := map[string]string{":method": method, ":path": path, "x-auth-request-email": email, "cookie": cookieMap, "x-profile-id": "p-spoofed"}
		hm := []*corev3.HeaderValue{
			{Key: "x-auth-request-user", RawValue: []byte(user)},
			{Key: "cookie", RawValue: cookieRaw},
			{Key: hname, RawValue: hval},
		}
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: map[string]string{"app": fuzzApps[int(app)%len(fuzzApps)]},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: method, Path: path, Host: "app.example.com", Scheme: "https",
				Headers: m, HeaderMap: &corev3.HeaderMap{Headers: hm},
			}},
		}}
		// Check is ToInput → Decide → FromDecision; the observer hands us
		// the decision for the failure messages.
		var d authz.Decision
		srv := NewServer(w.engine, Options{Observe: func(_ context.Context, _ authz.Input, got authz.Decision, _ time.Duration) { d = got }})
		resp, err := srv.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		// What gRPC will do with it: a response that cannot be marshalled
		// is an RPC error, and Envoy's error path decides instead of us.
		if _, err := proto.Marshal(resp); err != nil {
			t.Fatalf("response cannot be marshalled: %v", err)
		}
		assertWireRules(t, resp)

		ok := resp.GetOkResponse()
		if ok == nil {
			return
		}
		set := header(ok.GetHeaders(), "x-profile-id")
		switch {
		case set != "" && !w.returned(set):
			t.Fatalf("allowed with profile id %q no store returned (reason %s)", set, d.Reason)
		case set == "" && !slices.Contains(ok.GetHeadersToRemove(), "x-profile-id"):
			t.Fatalf("anonymous allow does not strip the client's x-profile-id (reason %s)", d.Reason)
		case !slices.Contains(ok.GetHeadersToRemove(), "x-profile-email"):
			t.Fatalf("allow does not strip owned header x-profile-email (reason %s)", d.Reason)
		}
	})
}
