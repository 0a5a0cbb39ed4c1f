package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/test/harness"
)

// TestSignInStorm (make bench) is Monday 9:00: 50,000 distinct people, all
// with profiles and none with a session, send their first request as fast
// as they come (concurrency 32, each person once). Every one of them
// misses the profile cache and creates a session. It reports throughput,
// p50, p99 and the 503s (goal: none while PostgreSQL is up) against the
// do-nothing floor given the same requests in the same run.
func TestSignInStorm(t *testing.T) {
	if os.Getenv("EXTAUTHZ_BENCH") == "" {
		t.Skip("set EXTAUTHZ_BENCH=1 (make bench) to run the load benchmark")
	}
	people := 50_000
	if *smoke {
		people = 2_000
	}
	ctx := t.Context()
	dbURL := pgtest.URL(t)
	harness.CLI(t, []string{"EXTAUTHZ_DATABASE_URL=" + dbURL}, "migrate")
	pool := pgtest.PoolFor(t, dbURL)
	exec1(t, pool, `INSERT INTO extauthz_profiles (email) SELECT 'storm' || g || '@bench.example' FROM generate_series(0, $1 - 1) g`, people)
	exec1(t, pool, `VACUUM ANALYZE`)
	svc := harness.Start(t, harness.Options{DatabaseURL: dbURL, Args: []string{"--log-level", "warn"}})
	floorGRPC, _, _ := startFloor(t)
	conns := func(addr string) []*grpc.ClientConn { return dialN(t, addr, 4) }
	reqs := make([][]byte, people)
	for i := range people {
		reqs[i] = wire(request("storm"+strconv.Itoa(i)+"@bench.example", ""))
	}
	storm := func(cs []*grpc.ClientConn, name string) result {
		l := load{conns: cs, concurrency: *concurrency, duration: 30 * time.Minute, limit: people,
			next: func(i uint64) []byte { return reqs[i] }}
		return l.run(ctx, name)
	}
	// Both servers' connections warm, on requests that are not the storm's.
	warm := load{concurrency: *concurrency, duration: 30 * time.Minute, limit: 2000,
		next: func(i uint64) []byte { return wire(request("", "")) }}
	warm.conns = conns(floorGRPC)
	floorConns := warm.conns
	warm.run(ctx, "warm")
	warm.conns = conns(svc.GRPCAddr)
	extConns := warm.conns
	warm.run(ctx, "warm")

	fl := storm(floorConns, "floor")
	m0 := scrape(t, svc)
	r := storm(extConns, "extauthz")
	m1 := scrape(t, svc)
	unavailable := r.reasons[string(authz.ReasonLookupUnavailable)]
	var answers []string
	for k, v := range r.reasons {
		answers = append(answers, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(answers)
	n := float64(max(r.requests, 1))
	fmt.Printf("## Sign-in storm: %d distinct people's first requests, concurrency %d\n\n", people, *concurrency)
	fmt.Printf("| server | req/s | p50 | p99 | 503 | rpc errors | store trips/req | store time/req | ratio to floor | answers |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	fmt.Printf("| floor | %.0f | %s | %s | - | %d | - | - | 1.00 | - |\n", fl.rps(), us(fl.pct(.5)), us(fl.pct(.99)), fl.errors)
	fmt.Printf("| extauthz | %.0f | %s | %s | %d | %d | %.3f | %s | %.2f | %s |\n\n", r.rps(), us(r.pct(.5)), us(r.pct(.99)), unavailable, r.errors,
		(m1.trips-m0.trips)/n, us(time.Duration((m1.storeSeconds-m0.storeSeconds)/n*float64(time.Second))), r.rps()/fl.rps(), strings.Join(answers, ", "))
	if r.requests != people || r.reasons[string(authz.ReasonRekey)] != people-unavailable {
		t.Errorf("storm: %d requests, answers %v; want %d re-keys (first visits) but for the 503s", r.requests, r.reasons, people)
	}
}
