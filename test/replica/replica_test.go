// Package replica tests what only two processes can show: a change made
// through one replica's database path reaches another replica's warm caches
// through LISTEN/NOTIFY, long before the cache TTL.
package replica

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	sessionCookie = "extauthz_session"
	// invalidationBound is the acceptance bound: a profile blocked
	// through one replica is denied on another within it.
	invalidationBound = 100 * time.Millisecond
)

func check(t *testing.T, svc *harness.Service, r harness.Request) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := svc.Check(ctx, r)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return harness.Read(resp)
}

func email(e string) map[string]string { return map[string]string{"x-auth-request-email": e} }

// storeTrips sums extauthz_store_query_duration_seconds_count: every store
// operation that reached PostgreSQL.
func storeTrips(t *testing.T, svc *harness.Service) int {
	t.Helper()
	code, body, err := svc.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d, %v", code, err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "extauthz_store_query_duration_seconds_count") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int(v)
	}
	return n
}

// waitFeed polls /readyz until the change feed reports ok.
func waitFeed(t *testing.T, svc *harness.Service) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := svc.Get("/readyz")
		if err == nil && code == 200 && strings.Contains(body, `"change_feed":"ok"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("change feed not up: %d %s %v", code, body, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func TestBlockReachesOtherReplica(t *testing.T) {
	db := pgtest.URL(t)
	env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, env, "migrate")
	harness.CLI(t, env, "profile", "add", "--email", "alice@example.com")

	// A 1h TTL: only the change feed can explain a quick denial.
	opts := harness.Options{DatabaseURL: db, Args: []string{"--cache-ttl", "1h", "--log-level", "warn"}}
	a, b := harness.Start(t, opts), harness.Start(t, opts)
	waitFeed(t, a)
	waitFeed(t, b)

	// Alice signs in on both replicas; their caches are warm.
	type signedIn struct {
		svc *harness.Service
		req harness.Request
	}
	var users []signedIn
	for _, svc := range []*harness.Service{a, b} {
		r := check(t, svc, harness.Request{Headers: email("alice@example.com")})
		if !r.Allow || r.Reason() != "rekey" {
			t.Fatalf("sign-in: %+v", r)
		}
		req := harness.Request{Headers: email("alice@example.com"), Cookie: sessionCookie + "=" + r.SessionToken(sessionCookie)}
		if r := check(t, svc, req); !r.Allow || r.Reason() != "session_match" {
			t.Fatalf("second request: %+v", r)
		}
		users = append(users, signedIn{svc, req})
	}
	// Proof the steady state is answered from memory on B: no store trip.
	before := storeTrips(t, b)
	for range 5 {
		if r := check(t, b, users[1].req); !r.Allow || r.Reason() != "session_match" {
			t.Fatalf("warm request: %+v", r)
		}
	}
	if after := storeTrips(t, b); after != before {
		t.Fatalf("steady state on B made %d store trips, want 0 (caches not warm)", after-before)
	}

	// Block through the database path (the CLI), then poll B.
	harness.CLI(t, env, "profile", "block", "--email", "alice@example.com")
	returned := time.Now()
	deadline := returned.Add(10 * time.Second)
	polls := 0
	for {
		r := check(t, b, users[1].req)
		polls++
		if !r.Allow {
			took := time.Since(returned)
			if r.Status != 403 || r.Reason() != "profile_blocked" {
				t.Fatalf("denied with %d %s, want 403 profile_blocked", r.Status, r.Reason())
			}
			t.Logf("replica B denied the blocked profile %s after the block command returned (%d polls; cache_ttl 1h)", took, polls)
			if took > invalidationBound {
				t.Fatalf("invalidation took %s, bound %s", took, invalidationBound)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica B still allows a blocked profile after 10s (cache_ttl 1h: the change feed did not invalidate)")
		}
	}
	// And A, for symmetry: its own change feed delivers the same NOTIFY,
	// not necessarily before B's, so it is polled as well.
	for r := check(t, a, users[0].req); r.Allow; r = check(t, a, users[0].req) {
		if time.Now().After(deadline) {
			t.Fatalf("replica A after the block: %+v", r)
		}
	}
	if r := check(t, a, users[0].req); r.Status != 403 {
		t.Fatalf("replica A after the block: %+v", r)
	}
}
