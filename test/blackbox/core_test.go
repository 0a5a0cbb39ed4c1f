// Package blackbox plays the decision table against the real binary, over a
// real gRPC connection, on a real PostgreSQL that the test stops and starts.
package blackbox

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const sessionCookie = "extauthz_session"

// check sends one Check and reads it the way Envoy applies it.
func check(t *testing.T, svc *harness.Service, r harness.Request) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := svc.Check(ctx, r)
	if err != nil {
		t.Fatalf("Check: %v (denials must be successful RPCs)", err)
	}
	return harness.Read(resp)
}

func email(e string) map[string]string { return map[string]string{"x-auth-request-email": e} }

func cookieOf(tok string) string { return sessionCookie + "=" + tok }

// want asserts the core of a result.
func want(t *testing.T, step string, got harness.Result, allow bool, status int, reason, profile string) {
	t.Helper()
	if got.Allow != allow || got.Status != status || got.Reason() != reason {
		t.Fatalf("%s: got allow=%v status=%d reason=%q; want allow=%v status=%d reason=%q\n%+v",
			step, got.Allow, got.Status, got.Reason(), allow, status, reason, got)
	}
	if allow && got.Upstream["x-profile-id"] != profile {
		t.Fatalf("%s: upstream x-profile-id = %q, want %q", step, got.Upstream["x-profile-id"], profile)
	}
	if allow && profile == "" && !slices.Contains(got.Removed, "x-profile-id") {
		t.Fatalf("%s: anonymous allow must remove x-profile-id: %v", step, got.Removed)
	}
	if !allow && got.Response["cache-control"] != "no-store" {
		t.Fatalf("%s: deny without cache-control: no-store", step)
	}
}

// TestCoreScenario is issue #2's story: sign-in, steady state, person
// change, replay, unknown email, blocked profile, database outage and
// recovery without a restart.
func TestCoreScenario(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.NewDatabase(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}

	harness.CLI(t, env, "migrate")
	alice := strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", "Alice@Example.com", "--name", "Alice"))
	bob := strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", "bob@example.com"))
	carol := strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", "carol@example.com"))
	for _, id := range []string{alice, bob, carol} {
		if len(id) != 36 {
			t.Fatalf("profile add printed %q, want only the id", id)
		}
	}

	svc := harness.Start(t, harness.Options{DatabaseURL: db})

	// User A signs in: re-key, a cookie is issued, A's profile id injected.
	r := check(t, svc, harness.Request{Headers: email("alice@example.com")})
	want(t, "A signs in", r, true, 200, "rekey", alice)
	tokA := r.SessionToken(sessionCookie)
	if !strings.HasPrefix(tokA, "v1.") {
		t.Fatalf("no session cookie issued: %v", r.SetCookies)
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=604800"} {
		if !strings.Contains(r.SetCookies[0], attr) {
			t.Errorf("session cookie lacks %s: %s", attr, r.SetCookies[0])
		}
	}

	// Steady state, with a case/space variant of the email and a spoofed
	// x-profile-id, in both of Envoy's header encodings.
	for _, raw := range []bool{false, true} {
		h := email("  ALICE@example.com ")
		h["x-profile-id"] = bob
		r = check(t, svc, harness.Request{Headers: h, Cookie: "theme=dark; " + cookieOf(tokA), Raw: raw})
		want(t, "steady state", r, true, 200, "session_match", alice)
		if len(r.SetCookies) != 0 {
			t.Fatalf("steady state set cookies: %v", r.SetCookies)
		}
		if r.Upstream["cookie"] != "theme=dark" {
			t.Fatalf("upstream cookie = %q, want the service cookie stripped", r.Upstream["cookie"])
		}
	}

	// The person changes: the first request already carries B's profile id
	// and a new cookie; A's row is gone.
	r = check(t, svc, harness.Request{Headers: email("bob@example.com"), Cookie: cookieOf(tokA)})
	want(t, "person changes to B", r, true, 200, "identity_changed", bob)
	tokB := r.SessionToken(sessionCookie)
	if tokB == "" || tokB == tokA {
		t.Fatalf("no new cookie on identity change: %v", r.SetCookies)
	}
	r = check(t, svc, harness.Request{Headers: email("bob@example.com"), Cookie: cookieOf(tokB)})
	want(t, "B steady", r, true, 200, "session_match", bob)

	// A's old cookie replayed without identity: anonymous, never A.
	r = check(t, svc, harness.Request{Cookie: cookieOf(tokA)})
	want(t, "A's cookie replayed", r, true, 200, "anonymous", "")
	if !r.Expires(sessionCookie) {
		t.Fatalf("dead cookie not expired: %v", r.SetCookies)
	}

	// An unknown email flushes B's session: expired and deleted.
	r = check(t, svc, harness.Request{Headers: email("stranger@example.com"), Cookie: cookieOf(tokB)})
	want(t, "unknown email", r, true, 200, "identity_unknown", "")
	if !r.Expires(sessionCookie) {
		t.Fatalf("unknown identity did not expire the session: %v", r.SetCookies)
	}
	r = check(t, svc, harness.Request{Cookie: cookieOf(tokB)})
	want(t, "B's flushed cookie replayed", r, true, 200, "anonymous", "")

	// A blocked profile gets 403 plus expiry of its own session.
	r = check(t, svc, harness.Request{Headers: email("carol@example.com")})
	want(t, "C signs in", r, true, 200, "rekey", carol)
	tokC := r.SessionToken(sessionCookie)
	harness.CLI(t, env, "profile", "block", "--email", "carol@example.com")
	r = pollCheck(t, svc, harness.Request{Headers: email("carol@example.com"), Cookie: cookieOf(tokC)},
		func(r harness.Result) bool { return !r.Allow })
	want(t, "C blocked", r, false, 403, "profile_blocked", "")
	if !r.Expires(sessionCookie) {
		t.Fatalf("blocked profile's cookie not expired: %v", r.SetCookies)
	}

	// B signs in again; then PostgreSQL stops.
	r = check(t, svc, harness.Request{Headers: email("bob@example.com")})
	tokB = r.SessionToken(sessionCookie)
	want(t, "B again", r, true, 200, "rekey", bob)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	// A never-seen email: 503 with Retry-After, no Set-Cookie.
	r = check(t, svc, harness.Request{Headers: email("dave@example.com")})
	want(t, "outage, new email", r, false, 503, "lookup_unavailable", "")
	if len(r.SetCookies) != 0 || r.Response["retry-after"] == "" {
		t.Fatalf("outage answer: %+v", r)
	}
	// Nobody is logged out and nobody switches identity: B's request is
	// answered from the cache as B, or refused with 503 — never a
	// Set-Cookie, never another profile.
	for i := 0; i < 5; i++ {
		r = check(t, svc, harness.Request{Headers: email("bob@example.com"), Cookie: cookieOf(tokB)})
		if len(r.SetCookies) != 0 {
			t.Fatalf("outage changed cookies: %v", r.SetCookies)
		}
		if r.Allow && r.Upstream["x-profile-id"] != bob {
			t.Fatalf("outage switched identity: %+v", r)
		}
		if !r.Allow && r.Status != 503 {
			t.Fatalf("outage denied with %d %s", r.Status, r.Reason())
		}
	}
	if code, _, _ := svc.Get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d during a database outage; liveness must not depend on it", code)
	}
	if code, _, _ := svc.Get("/readyz"); code != 503 {
		t.Fatalf("/readyz = %d during a database outage, want 503", code)
	}

	// PostgreSQL is back: decisions recover without restarting the service.
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	r = pollCheck(t, svc, harness.Request{Headers: email("dave@example.com")},
		func(r harness.Result) bool { return r.Reason() != "lookup_unavailable" })
	want(t, "recovered, unknown email", r, true, 200, "identity_unknown", "")
	r = check(t, svc, harness.Request{Headers: email("bob@example.com"), Cookie: cookieOf(tokB)})
	want(t, "recovered, B steady", r, true, 200, "session_match", bob)
	if code, body, _ := svc.Get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d after recovery: %s", code, body)
	}
}

// pollCheck repeats a Check until done reports true or 20 s pass.
func pollCheck(t *testing.T, svc *harness.Service, r harness.Request, done func(harness.Result) bool) harness.Result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := check(t, svc, r)
		if done(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(20 * time.Millisecond)
	}
}
