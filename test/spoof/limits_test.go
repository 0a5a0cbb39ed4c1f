package spoof

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestSessionsPerPersonAreCapped: a client that never returns its cookie
// creates a session per request; one person's live sessions for an app stop
// at max_sessions_per_profile (the oldest are revoked), where 22 000 were
// seen piling up before.
func TestSessionsPerPersonAreCapped(t *testing.T) {
	db := pgtest.URL(t)
	svc := harness.Start(t, harness.Options{DatabaseURL: db, Args: []string{"--auto-register", "--max-sessions-per-profile", "5"}})
	var tokens []string
	for range 12 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := svc.Check(ctx, harness.Request{Headers: map[string]string{"x-auth-request-email": "alice@example.com"}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		res := harness.Read(r)
		if res.Status != 200 || res.Reason() != "rekey" {
			t.Fatalf("cookieless request: %d %s", res.Status, res.Reason())
		}
		tokens = append(tokens, res.SessionToken("extauthz_session"))
	}
	if n := pgtest.Count(t, db, `SELECT count(*) FROM extauthz_sessions WHERE email = 'alice@example.com'`); n != 5 {
		t.Fatalf("alice holds %d sessions after 12 cookieless sign-ins, want 5", n)
	}
	// The newest still works; the oldest was revoked (its revocation
	// reaches the cache through the change feed, a moment later).
	reason := func(tok string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := svc.Check(ctx, harness.Request{Headers: map[string]string{"x-auth-request-email": "alice@example.com"},
			Cookie: "extauthz_session=" + tok})
		if err != nil {
			t.Fatal(err)
		}
		return harness.Read(r).Reason()
	}
	if got := reason(tokens[11]); got != "session_match" {
		t.Errorf("the newest session: %s, want session_match", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got := reason(tokens[0]); got != "rekey"; got = reason(tokens[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("the oldest session still answers %s 5 s after it was revoked", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRegistrationFloodIsRateLimited: distinct new emails beyond the
// replica's auto_register_rate get 429 registration_limited with
// Retry-After — never a 503, nothing written — and a person already known
// is not held up by the flood.
func TestRegistrationFloodIsRateLimited(t *testing.T) {
	db := pgtest.URL(t)
	// A rate so low that the bucket does not refill during the test.
	svc := harness.Start(t, harness.Options{DatabaseURL: db, Args: []string{"--auto-register",
		"--auto-register-rate", "0.001", "--auto-register-burst", "5"}})
	check := func(email, cookie string) harness.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := svc.Check(ctx, harness.Request{Headers: map[string]string{"x-auth-request-email": email}, Cookie: cookie})
		if err != nil {
			t.Fatal(err)
		}
		return harness.Read(r)
	}
	alice := check("alice@example.com", "") // registered before the flood
	tok := alice.SessionToken("extauthz_session")
	counts := map[string]int{}
	for i := range 20 {
		r := check(fmt.Sprintf("flood%d@example.com", i), "")
		counts[fmt.Sprintf("%d %s", r.Status, r.Reason())]++
		if r.Status == 429 && (r.Response["retry-after"] == "" || len(r.SetCookies) > 0) {
			t.Fatalf("429 without Retry-After or with Set-Cookie: %+v", r)
		}
	}
	if counts["200 rekey"] != 4 || counts["429 registration_limited"] != 16 {
		t.Fatalf("flood of 20 after one registration with a burst of 5: %v; want 4 rekey, 16 registration_limited", counts)
	}
	if r := check("alice@example.com", "extauthz_session="+tok); r.Reason() != "session_match" {
		t.Fatalf("a known person during the flood: %d %s", r.Status, r.Reason())
	}
}
