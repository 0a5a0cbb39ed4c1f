package blackbox

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestFreshReplicaFirstBurst: a replica says SERVING (grpc.health.v1 for
// the Check service, as Envoy's health check asks; the harness waits for
// it) only once its pool holds database_min_conns open connections, so its
// first burst does not wait for connections to be opened. Then 50
// concurrent first requests with auto-register on, distinct people and one
// person 50 times, all re-key, the one person to one profile.
//
// The burst runs with a generous lookup_timeout: whether 50 registrations
// fit in 150 ms depends on the machine, and a unit test makes no timed
// assertion. Its latency is logged; the README's figures come from it.
func TestFreshReplicaFirstBurst(t *testing.T) {
	const burst, minConns = 50, 6
	for _, tc := range []struct {
		name  string
		email func(i int) string
	}{
		{"distinct", func(i int) string { return fmt.Sprintf("new%d@example.com", i) }},
		{"identical", func(int) string { return "same@example.com" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.URL(t)
			svc := harness.Start(t, harness.Options{DatabaseURL: db, Args: []string{"--auto-register",
				"--database-min-conns", fmt.Sprint(minConns), "--lookup-timeout", "2s", "--envoy-timeout", "3s"}})
			if n := backends(t, db); n < minConns {
				t.Fatalf("SERVING with %d connections open to the database, want at least database_min_conns (%d)", n, minConns)
			}
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				reasons  = map[string]int{}
				profiles = map[string]bool{}
				lat      []time.Duration
			)
			start := make(chan struct{})
			for i := range burst {
				wg.Go(func() {
					<-start
					t0 := time.Now()
					r := check(t, svc, harness.Request{Headers: email(tc.email(i))})
					took := time.Since(t0)
					mu.Lock()
					defer mu.Unlock()
					reasons[fmt.Sprintf("%d %s", r.Status, r.Reason())]++
					profiles[r.Upstream["x-profile-id"]] = true
					lat = append(lat, took)
				})
			}
			close(start)
			wg.Wait()
			slices.Sort(lat)
			t.Logf("first burst of %d: p50 %s, max %s", burst, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
			if reasons["200 rekey"] != burst {
				t.Fatalf("first burst of %d: %v; want every one 200 rekey", burst, reasons)
			}
			if want := map[string]int{"distinct": burst, "identical": 1}[tc.name]; len(profiles) != want {
				t.Fatalf("%d distinct profile ids, want %d", len(profiles), want)
			}
		})
	}
}

// backends counts the server processes connected to db's database, other
// than the one counting.
func backends(t *testing.T, db string) int {
	t.Helper()
	return pgtest.Count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
}
