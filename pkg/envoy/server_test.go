package envoy

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
)

func TestFromDecisionAllow(t *testing.T) {
	d := authz.Decision{
		Allow: true, Status: 200, Reason: authz.ReasonRekey, ProfileID: "p1",
		UpstreamSet:     []authz.Header{{Name: "x-profile-id", Value: "p1"}, {Name: "cookie", Value: "a=1"}},
		UpstreamRemove:  []string{"x-profile-email"},
		SetCookies:      []string{"s=1; Path=/", "t=; Max-Age=0"},
		ResponseHeaders: []authz.Header{{Name: "x-extauthz-reason", Value: "rekey"}},
	}
	ow := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	for _, action := range []corev3.HeaderValueOption_HeaderAppendAction{
		corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD, corev3.HeaderValueOption_ADD_IF_ABSENT,
	} {
		got := FromDecision(d, Options{SetCookieAction: action})
		want := &authv3.CheckResponse{
			Status: statusCode(codes.OK),
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:         []*corev3.HeaderValueOption{hvo("x-profile-id", "p1", ow), hvo("cookie", "a=1", ow)},
				HeadersToRemove: []string{"x-profile-email"},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{
					hvo("set-cookie", "s=1; Path=/", action), hvo("set-cookie", "t=; Max-Age=0", action),
					hvo("x-extauthz-reason", "rekey", ow),
				},
			}},
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("action %v (-want +got):\n%s", action, diff)
		}
		assertWireRules(t, got)
	}
}

func TestFromDecisionDenyStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		grpc   codes.Code
		http   typev3.StatusCode
	}{
		{302, codes.PermissionDenied, typev3.StatusCode_Found},
		{400, codes.PermissionDenied, typev3.StatusCode_BadRequest},
		{401, codes.Unauthenticated, typev3.StatusCode_Unauthorized},
		{403, codes.PermissionDenied, typev3.StatusCode_Forbidden},
		{500, codes.PermissionDenied, typev3.StatusCode_InternalServerError},
		{503, codes.PermissionDenied, typev3.StatusCode_ServiceUnavailable},
		{0, codes.PermissionDenied, typev3.StatusCode_Forbidden},
	} {
		got := FromDecision(authz.Decision{Status: tc.status, Body: "b", SetCookies: []string{"x=; Max-Age=0"}}, Options{})
		if c := codes.Code(got.GetStatus().GetCode()); c != tc.grpc {
			t.Errorf("%d: grpc code %v, want %v", tc.status, c, tc.grpc)
		}
		dr := got.GetDeniedResponse()
		if dr.GetStatus().GetCode() != tc.http || dr.GetBody() != "b" || len(dr.GetHeaders()) != 1 {
			t.Errorf("%d: denied response %v", tc.status, dr)
		}
		assertWireRules(t, got)
	}
}

// A header Envoy would reject never leaves: the decision fails closed.
func TestFromDecisionUnsafeValueFailsClosed(t *testing.T) {
	for name, d := range map[string]authz.Decision{
		"profile id":  {Allow: true, Reason: authz.ReasonSessionMatch, UpstreamSet: []authz.Header{{Name: "x-profile-id", Value: "p1\r\nx-admin: 1"}}},
		"set-cookie":  {Allow: true, Reason: authz.ReasonRekey, SetCookies: []string{"a=1\n"}},
		"remove name": {Allow: true, Reason: authz.ReasonBypass, UpstreamRemove: []string{""}},
		"deny header": {Status: 302, Reason: authz.ReasonIdentityChanged, ResponseHeaders: []authz.Header{{Name: "location", Value: "/\x00"}}},
	} {
		t.Run(name, func(t *testing.T) {
			d.ResponseHeaders = append(d.ResponseHeaders, authz.Header{Name: "x-extauthz-reason", Value: string(d.Reason)})
			got := FromDecision(d, Options{})
			dr := got.GetDeniedResponse()
			if dr.GetStatus().GetCode() != typev3.StatusCode_InternalServerError {
				t.Fatalf("got %v, want a 500 denial", got)
			}
			if v := header(dr.GetHeaders(), "x-extauthz-reason"); v != string(authz.ReasonMisconfigured) {
				t.Errorf("reason header %q", v)
			}
			assertWireRules(t, got)
		})
	}
}

func TestServerRequestInvalid(t *testing.T) {
	w := newWorld(t)
	var seen []authz.Decision
	srv := NewServer(w.engine, Options{
		MaxHeaders: 4,
		Observe:    func(_ context.Context, _ authz.Input, d authz.Decision, _ time.Duration) { seen = append(seen, d) },
	})
	req := checkRequest("tracker", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"})
	got, err := srv.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	dr := got.GetDeniedResponse()
	if dr.GetStatus().GetCode() != typev3.StatusCode_BadRequest ||
		header(dr.GetHeaders(), "x-extauthz-reason") != "request_invalid" ||
		header(dr.GetHeaders(), "cache-control") != "no-store" ||
		dr.GetBody() != `{"error":"request_invalid"}` {
		t.Errorf("got %v", got)
	}
	if len(seen) != 1 || seen[0].Reason != authz.ReasonRequestInvalid || seen[0].App != "tracker" {
		t.Errorf("observer saw %+v", seen)
	}
}

// The reason header follows the app's policy, including "off".
func TestServerRequestInvalidReasonHeaderOff(t *testing.T) {
	p := authz.DefaultPolicy("default")
	p.ReasonHeader = ""
	p.OwnedHeaders = []string{"x-profile-id"}
	e, err := authz.New(authz.Config{Apps: []authz.App{{Policy: p, Profiles: authztest.NewProfiles()}}, Sessions: authztest.NewSessions()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewServer(e, Options{MaxHeaderBytes: 8}).Check(context.Background(),
		checkRequest("", map[string]string{"x-long": "0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	if header(got.GetDeniedResponse().GetHeaders(), "x-extauthz-reason") != "" {
		t.Errorf("reason header sent although turned off: %v", got)
	}
}

func TestServerUnavailableAsError(t *testing.T) {
	req := readRequest(t, filepath.Join("testdata", "lookup_unavailable.request.json"))
	for _, asError := range []bool{false, true} {
		srv := NewServer(newWorld(t).engine, Options{UnavailableAsError: asError})
		got, err := srv.Check(context.Background(), req)
		if asError {
			if status.Code(err) != codes.Unavailable || got != nil {
				t.Errorf("UnavailableAsError: got %v, %v; want a codes.Unavailable error", got, err)
			}
			continue
		}
		if err != nil || got.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_ServiceUnavailable {
			t.Errorf("default: got %v, %v; want a 503 denial", got, err)
		}
	}
	// Only lookup_unavailable becomes an error: a misconfigured app stays a
	// fail-closed 503 whatever failure_mode_allow says.
	srv := NewServer(newWorld(t).engine, Options{UnavailableAsError: true})
	got, err := srv.Check(context.Background(), readRequest(t, filepath.Join("testdata", "misconfigured.request.json")))
	if err != nil || got.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_ServiceUnavailable {
		t.Errorf("misconfigured: got %v, %v", got, err)
	}
}

func TestServerObserver(t *testing.T) {
	w := newWorld(t)
	type obs struct {
		app    string
		reason authz.Reason
		dur    time.Duration
	}
	var got []obs
	srv := NewServer(w.engine, Options{Observe: func(_ context.Context, in authz.Input, d authz.Decision, dur time.Duration) {
		got = append(got, obs{in.App, d.Reason, dur})
	}})
	if _, err := srv.Check(context.Background(), readRequest(t, filepath.Join("testdata", "session_match.request.json"))); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].reason != authz.ReasonSessionMatch || got[0].app != "" || got[0].dur < 0 {
		t.Errorf("observer got %+v", got)
	}
}

func TestServerGarbage(t *testing.T) {
	srv := NewServer(newWorld(t).engine, Options{})
	for _, req := range []*authv3.CheckRequest{nil, {}, checkRequest("", nil, nil, raw("\xff", "\xff"), raw(":path", "\x00"))} {
		got, err := srv.Check(context.Background(), req)
		if err != nil || got == nil {
			t.Errorf("Check(%v) = %v, %v", req, got, err)
			continue
		}
		assertWireRules(t, got)
	}
}

// TestGRPC runs Check over a real loopback gRPC connection.
func TestGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	Register(gs, NewServer(newWorld(t).engine, Options{}))
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.GracefulStop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authv3.NewAuthorizationClient(conn)

	for _, row := range []string{"session_match", "rekey", "profile_blocked", "lookup_unavailable", "session_match_header_map"} {
		t.Run(row, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := client.Check(ctx, readRequest(t, filepath.Join("testdata", row+".request.json")))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			switch row {
			case "session_match", "session_match_header_map":
				ok := got.GetOkResponse()
				if got.GetStatus().GetCode() != 0 || header(ok.GetHeaders(), "x-profile-id") != "p-alice" ||
					len(ok.GetResponseHeadersToAdd()) != 1 {
					t.Errorf("got %v", got)
				}
			case "rekey":
				// The world is shared across rows here, so the token differs
				// from the golden's; check the shape.
				sc := header(got.GetOkResponse().GetResponseHeadersToAdd(), "set-cookie")
				if !strings.HasPrefix(sc, "extauthz_session=v1.") {
					t.Errorf("set-cookie %q", sc)
				}
			case "profile_blocked":
				if got.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
					t.Errorf("got %v", got)
				}
			case "lookup_unavailable":
				dr := got.GetDeniedResponse()
				if dr.GetStatus().GetCode() != typev3.StatusCode_ServiceUnavailable || header(dr.GetHeaders(), "retry-after") == "" ||
					header(dr.GetHeaders(), "set-cookie") != "" {
					t.Errorf("got %v", got)
				}
			}
			assertWireRules(t, got)
		})
	}
}

// assertWireRules checks Envoy's wire rules for every header of resp:
// values in value (never raw_value), the deprecated append unset, no CR/LF/NUL.
func assertWireRules(t testing.TB, resp *authv3.CheckResponse) {
	t.Helper()
	var all []*corev3.HeaderValueOption
	all = append(all, resp.GetOkResponse().GetHeaders()...)
	all = append(all, resp.GetOkResponse().GetResponseHeadersToAdd()...)
	all = append(all, resp.GetDeniedResponse().GetHeaders()...)
	for _, h := range all {
		//lint:ignore SA1019 the test asserts that the deprecated field stays unset
		if h.GetAppend() != nil {
			t.Errorf("%s: deprecated append set", h.GetHeader().GetKey())
		}
		if len(h.GetHeader().GetRawValue()) > 0 {
			t.Errorf("%s: raw_value used", h.GetHeader().GetKey())
		}
		if !safeName(h.GetHeader().GetKey()) || !safeValue(h.GetHeader().GetValue()) {
			t.Errorf("unsafe header %q: %q", h.GetHeader().GetKey(), h.GetHeader().GetValue())
		}
	}
	for _, n := range resp.GetOkResponse().GetHeadersToRemove() {
		if !safeName(n) {
			t.Errorf("unsafe header to remove %q", n)
		}
	}
	if (resp.GetOkResponse() != nil) != (resp.GetStatus().GetCode() == 0) {
		t.Errorf("status %v does not match response kind", resp.GetStatus())
	}
}

func header(hs []*corev3.HeaderValueOption, name string) string {
	for _, h := range hs {
		if h.GetHeader().GetKey() == name {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func hvo(k, v string, a corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: a}
}

func statusCode(c codes.Code) *rpcstatus.Status { return &rpcstatus.Status{Code: int32(c)} }
