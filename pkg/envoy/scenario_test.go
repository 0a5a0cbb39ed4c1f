package envoy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// TestScenarioLingeringNativeCookie walks invariant 2 over the wire: bob's
// browser is taken over by alice on the tracker, the browser accepts the new
// session cookie but not the expiry of bob's native cookie (wrong Domain in
// the config). The loop guard answers 500 flush_failed — and a reload of that
// page must still never reach the app with bob's native cookie.
func TestScenarioLingeringNativeCookie(t *testing.T) {
	w := newWorld(t)
	srv := NewServer(w.engine, Options{})
	ctx := context.Background()

	req := readRequest(t, filepath.Join("testdata", "flush_redirect.request.json"))
	resp, err := srv.Check(ctx, req)
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Fatalf("first hop: %v %v", resp, err)
	}

	// The browser kept tracker_sid and took the new session (token 100).
	headers := req.Attributes.Request.Http.Headers
	headers["cookie"] = "tracker_sid=bobs-sid; extauthz_session=" + string(tok(100))

	resp, err = srv.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := header(resp.GetDeniedResponse().GetHeaders(), "x-extauthz-reason"); got != "flush_failed" {
		t.Fatalf("second request: reason %q, want flush_failed (%v)", got, resp)
	}

	for i := range 2 { // the user reloads the error page
		resp, err = srv.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.GetOkResponse()
		if ok == nil {
			continue
		}
		if up := header(ok.GetHeaders(), "cookie"); strings.Contains(up, "tracker_sid") {
			t.Fatalf("reload %d: bob's stale app cookie reached the upstream beside alice's profile (invariant 2): %v", i+1, ok.GetHeaders())
		}

	}
}
