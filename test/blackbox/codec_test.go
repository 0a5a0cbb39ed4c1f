package blackbox

import (
	"testing"

	"github.com/extauthz/extauthz/test/harness"
)

// TestGRPCCodecSetting: grpc_codec: generated turns the wire fast path off
// without a rebuild, and both answer the same decisions over real gRPC.
func TestGRPCCodecSetting(t *testing.T) {
	const cfg = "cookie: {secure: false}\nseed_profiles:\n  - {email: alice@example.com}\n  - {email: mallory@example.com, blocked: true}\n"
	type answer struct {
		status int
		reason string
		cookie bool
	}
	run := func(codec string) []answer {
		svc := harness.Start(t, harness.Options{Config: cfg, Args: []string{"--grpc-codec", codec}})
		first := check(t, svc, harness.Request{Headers: email("alice@example.com")})
		tok := first.SessionToken(sessionCookie)
		steady := check(t, svc, harness.Request{Headers: email("alice@example.com"), Cookie: cookieOf(tok)})
		blocked := check(t, svc, harness.Request{Headers: email("mallory@example.com")})
		var out []answer
		for _, r := range []harness.Result{first, steady, blocked} {
			out = append(out, answer{r.Status, r.Reason(), len(r.SetCookies) > 0})
		}
		return out
	}
	wire, generated := run("wire"), run("generated")
	want := []answer{{200, "rekey", true}, {200, "session_match", false}, {403, "profile_blocked", false}}
	for i := range want {
		if wire[i] != want[i] || generated[i] != want[i] {
			t.Errorf("answer %d: wire %+v, generated %+v; want %+v", i, wire[i], generated[i], want[i])
		}
	}
	if _, errOut, err := harness.TryCLI(t, nil, "serve", "--grpc-codec", "json", "--check-config"); err == nil {
		t.Errorf("grpc_codec json accepted: %s", errOut)
	}
}
