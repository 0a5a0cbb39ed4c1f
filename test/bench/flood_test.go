package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestRegistrationFlood (make bench) sends 3000 distinct never-seen emails
// at concurrency 32 to a warm replica with auto_register on, while 1000
// known people with live sessions keep browsing at concurrency 4, and
// reports what each got: the flood's answers, the steady traffic's errors
// and p99 against the same traffic alone. Once with the defaults
// (auto_register_rate 100/s, burst 200, auto_register_concurrency 8) and
// once unbounded.
func TestRegistrationFlood(t *testing.T) {
	if os.Getenv("EXTAUTHZ_BENCH") == "" {
		t.Skip("set EXTAUTHZ_BENCH=1 (make bench) to run the load benchmark")
	}
	const flood = 3000
	dur := 3 * time.Second
	if *smoke {
		dur = time.Second
	}
	fmt.Printf("## Registration flood: %d distinct new emails at concurrency 32, known people browsing at concurrency 4\n\n", flood)
	fmt.Printf("| registration limits | flood answers | flood took | steady errors/non-match | steady p99 alone | steady p99 during the flood |\n|---|---|---:|---:|---:|---:|\n")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"defaults (100/s, burst 200, 8 in flight)", nil},
		{"unbounded", []string{"--auto-register-rate", "0", "--auto-register-concurrency", "0"}},
	} {
		ctx := t.Context()
		dbURL := pgtest.URL(t)
		harness.CLI(t, []string{"EXTAUTHZ_DATABASE_URL=" + dbURL}, "migrate")
		pool := pgtest.PoolFor(t, dbURL)
		exec1(t, pool, `INSERT INTO extauthz_profiles (email) SELECT 'user' || g || '@bench.example' FROM generate_series(0, $1 - 1) g`, users)
		seedSessions(t, pool, "bench-", 0, users)
		svc := harness.Start(t, harness.Options{DatabaseURL: dbURL, Args: append([]string{"--log-level", "warn", "--auto-register"}, tc.args...)})
		conn := func() []*grpc.ClientConn {
			c, err := dial(svc.GRPCAddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return []*grpc.ClientConn{c}
		}
		steadyReq := make([][]byte, users)
		for k := range users {
			steadyReq[k] = wire(request(userEmail(k), "extauthz_session="+token("bench-"+strconv.Itoa(k))))
		}
		steady := load{concurrency: 4, duration: dur, conns: conn(), next: func(i uint64) []byte { return steadyReq[i%users] }}
		warm := steady
		warm.limit = users
		warm.run(ctx, "warm")
		alone := steady.run(ctx, "alone")

		fl := load{concurrency: 32, duration: time.Minute, limit: flood, conns: conn(), next: func(i uint64) []byte {
			return wire(request("flood-"+strconv.FormatUint(i, 10)+"@bench.example", ""))
		}}
		var wg sync.WaitGroup
		var fr result
		wg.Go(func() { fr = fl.run(ctx, "flood") })
		during := steady.run(ctx, "during")
		wg.Wait()

		bad := during.errors
		for k, v := range during.reasons {
			if k != "session_match" {
				bad += v
			}
		}
		var answers []string
		for k, v := range fr.reasons {
			answers = append(answers, fmt.Sprintf("%s %d", k, v))
		}
		if fr.errors > 0 {
			answers = append(answers, fmt.Sprintf("rpc errors %d", fr.errors))
		}
		slices.Sort(answers)
		fmt.Printf("| %s | %s | %s | %d of %d | %s | %s |\n", tc.name, strings.Join(answers, ", "),
			fr.elapsed.Round(time.Millisecond), bad, during.requests, us(alone.pct(.99)), us(during.pct(.99)))
		svc.Stop()
	}
	fmt.Println()
}
