package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/extauthz/extauthz/internal/oidctest"
	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	smoke       = flag.Bool("bench.smoke", false, "a short run for CI: every scenario briefly, 10k sessions only")
	duration    = flag.Duration("bench.duration", 5*time.Second, "length of each measured scenario")
	concurrency = flag.Int("bench.concurrency", 32, "concurrent requests in flight (both servers)")
	out         = flag.String("bench.out", "", "also write the report (markdown) to this file")
	profileDir  = flag.String("bench.profile", "", "also write CPU profiles of the floor, the steady state and the re-key path to this directory")
	settleFor   = flag.Duration("bench.settle", 10*time.Second, "before the steady state is measured, warm until a full pass over its users makes no store query, for at most this long (0: the plain timed warm-up only)")
)

const users = 1000 // profiles user0..user999@bench.example

func TestBench(t *testing.T) {
	if os.Getenv("EXTAUTHZ_BENCH") == "" {
		t.Skip("set EXTAUTHZ_BENCH=1 (make bench) to run the load benchmark")
	}
	ctx := t.Context()
	d := *duration
	tiers := []int{10_000, 100_000, 1_000_000}
	switchSessions := 100_000
	if *smoke {
		d = 500 * time.Millisecond
		tiers = []int{10_000, 20_000} // the last stands for the 1M row
		switchSessions = 20_000
	}
	var rep strings.Builder
	report := func(format string, args ...any) {
		fmt.Fprintf(&rep, format, args...)
		fmt.Printf(format, args...)
	}

	// A throw-away PostgreSQL with 1000 profiles and the sessions the
	// scenarios present.
	dbURL := pgtest.URL(t)
	harness.CLI(t, []string{"EXTAUTHZ_DATABASE_URL=" + dbURL}, "migrate")
	pool := pgtest.PoolFor(t, dbURL)
	exec1(t, pool, `INSERT INTO extauthz_profiles (email) SELECT 'user' || g || '@bench.example' FROM generate_series(0, $1 - 1) g`, users)
	seeded := 0
	seed := func(n int) {
		t.Helper()
		if n <= seeded {
			return
		}
		start := time.Now()
		seedSessions(t, pool, "bench-", seeded, n)
		t.Logf("seeded sessions %d..%d in %s", seeded, n, time.Since(start).Round(time.Millisecond))
		seeded = n
	}
	seed(tiers[0])
	seedPeople(t, pool, "fv", firstVisitPeople)
	seedPeople(t, pool, "sw", switchPeople)
	seedSessionsOf(t, pool, "default", "sw", switchPeople, "switch-", 0, switchSessions)
	seedAppSessions(t, pool, jwtApp, "jwt-", 0, users)
	exec1(t, pool, `VACUUM ANALYZE`)

	// BENCH_SERVER_ENV adds environment to extauthz (GODEBUG=gctrace=1,
	// GOGC=...); BENCH_SERVER_LOGS=1 prints its log (gctrace included) at
	// the end.
	// App jwtApp verifies an ID token of an issuer on loopback on every
	// request (identity_jwt); the other apps trust the identity headers.
	idp := oidctest.New(t)
	svc := harness.Start(t, harness.Options{DatabaseURL: dbURL, Args: []string{"--log-level", "warn", "--pprof"},
		Config: fmt.Sprintf("apps:\n  %s:\n    identity_jwt: {issuer: %q, audiences: [bench], require: true}\n", jwtApp, idp.URL),
		Env:    strings.Fields(os.Getenv("BENCH_SERVER_ENV"))})
	defer func() {
		if os.Getenv("BENCH_SERVER_LOGS") != "" {
			fmt.Println(svc.Logs())
		}
	}()
	floorGRPC, floorHTTP, floorPID := startFloor(t)
	// The same do-nothing server with the gRPC tuning serve applies (a pool
	// of stream workers sized as serve sizes it), to show what that tuning
	// alone is worth.
	workers := max(64, 16*runtime.GOMAXPROCS(0))
	tunedGRPC, tunedHTTP, tunedPID := startFloor(t, "-workers", strconv.Itoa(workers))

	conns := func(addr string) []*grpc.ClientConn { return dialN(t, addr, 4) }
	ext, floor, tuned := conns(svc.GRPCAddr), conns(floorGRPC), conns(tunedGRPC)

	// The steady-state requests: user k with its live session bench-k.
	steady := make([][]byte, users)
	for k := range users {
		steady[k] = wire(request(userEmail(k), "extauthz_session="+token("bench-"+strconv.Itoa(k))))
	}
	steadyNext := func(i uint64) []byte { return steady[i%users] }
	base := load{concurrency: *concurrency, duration: d}
	with := func(conns []*grpc.ClientConn, next func(uint64) []byte) load {
		l := base
		l.conns, l.next = conns, next
		return l
	}

	// Warm a server (connections, caches) right before measuring it, so
	// that the steady state is measured well inside the cache TTL.
	warmUp := func(conns []*grpc.ClientConn, d time.Duration) {
		w := with(conns, steadyNext)
		w.duration = d
		w.run(ctx, "warm")
	}
	warmFor := max(d/2, 500*time.Millisecond)
	warmUp(floor, warmFor)
	warmUp(tuned, warmFor)

	measure := func(name string, l load) row {
		t.Helper()
		m0, c0 := scrape(t, svc), cpuTime(t, svc.PID())
		r := l.run(ctx, name)
		m1, c1 := scrape(t, svc), cpuTime(t, svc.PID())
		if r.errors > 0 {
			t.Errorf("%s: %d gRPC errors", name, r.errors)
		}
		n := float64(max(r.requests, 1))
		return row{r: r, allocs: (m1.mallocs - m0.mallocs) / n, bytes: (m1.bytes - m0.bytes) / n, trips: (m1.trips - m0.trips) / n,
			storeTime: time.Duration((m1.storeSeconds - m0.storeSeconds) / n * float64(time.Second)),
			cpu:       (c1 - c0) / time.Duration(max(r.requests, 1))}
	}
	measureFloor := func(conns []*grpc.ClientConn, httpAddr string, pid int) row {
		m0, c0 := floorMallocs(t, httpAddr), cpuTime(t, pid)
		r := with(conns, steadyNext).run(ctx, "floor")
		m1, c1 := floorMallocs(t, httpAddr), cpuTime(t, pid)
		n := max(r.requests, 1)
		return row{r: r, allocs: (m1.mallocs - m0.mallocs) / float64(n), bytes: (m1.bytes - m0.bytes) / float64(n), cpu: (c1 - c0) / time.Duration(n)}
	}
	fr := measureFloor(floor, floorHTTP, floorPID)
	tf := measureFloor(tuned, tunedHTTP, tunedPID)
	fl, floorAllocs, floorCPU := fr.r, fr.allocs, fr.cpu

	warmUp(ext, warmFor)
	if *settleFor > 0 {
		settle(t, ctx, svc, with(ext, steadyNext), *settleFor)
	}
	rows := []row{measure("steady state (cache hit)", with(ext, steadyNext))}

	// The steady state again with identity_jwt: each user presents its
	// ID token (verified once, then remembered by hash until it expires).
	jwtSteady := make([][]byte, users)
	for k := range users {
		tok := idp.IDToken(t, "bench", userEmail(k), "sub-"+strconv.Itoa(k), "")
		jwtSteady[k] = wire(jwtRequest(userEmail(k), tok, "extauthz_session="+token("jwt-"+strconv.Itoa(k))))
	}
	jwtNext := func(i uint64) []byte { return jwtSteady[i%users] }
	// The floor on the same (larger) requests, right before.
	warmUp(floor, warmFor)
	jwtFloor := with(floor, jwtNext).run(ctx, "floor")
	if *settleFor > 0 {
		settle(t, ctx, svc, with(ext, jwtNext), *settleFor)
	}
	jwtRow := measure("steady state, identity_jwt (cache hit)", with(ext, jwtNext))

	// Paced at half of the steady-state peak, both servers at one rate; at
	// half the floor's peak if that is lower, so that neither server is
	// measured in overload. Each server is warmed right before: after the
	// scenarios below, extauthz's hot entries have been idle for longer
	// than the cache TTL, and that would measure a cold start.
	rate := min(rows[0].r.rps(), fl.rps()) / 2
	type pacedRun struct {
		r                  [2]result
		sessions, profiles float64 // extauthz's cache entries during the run
	}
	pace := func() pacedRun {
		paced := func(conns []*grpc.ClientConn) load {
			l := with(conns, steadyNext)
			l.rate = rate
			return l
		}
		warmUp(floor, time.Second)
		pf := paced(floor).run(ctx, "floor")
		warmUp(ext, time.Second)
		pe := paced(ext).run(ctx, "extauthz")
		m := scrape(t, svc)
		return pacedRun{r: [2]result{pf, pe}, sessions: m.sessions, profiles: m.profiles}
	}
	warmCache := pace()
	firstVisit := make([][]byte, firstVisitPeople)
	for k := range firstVisitPeople {
		firstVisit[k] = wire(request(personEmail("fv", k), ""))
	}
	firstVisitNext := func(i uint64) []byte { return firstVisit[i%firstVisitPeople] }
	rows = append(rows, measure("first visit (re-key: 1 insert)", with(ext, firstVisitNext)))
	rows = append(rows, measure("identity switch (flush + re-key)", with(ext, func(i uint64) []byte {
		owner := int(i) % switchPeople // switch-i belongs to sw<i%switchPeople> (seedSessionsOf)
		return wire(request(personEmail("sw", (owner+1)%switchPeople), "extauthz_session="+token("switch-"+strconv.Itoa(int(i)))))
	})))
	rows = append(rows, measure("unknown email (distinct)", with(ext, func(i uint64) []byte {
		return wire(request("nobody"+strconv.FormatUint(i, 10)+"@bench.example", ""))
	})))
	garbage := wire(request("", "extauthz_session=%%garbage%%; other=1"))
	rows = append(rows, measure("garbage cookie, no identity", with(ext, func(uint64) []byte { return garbage })))

	report("## Closed loop, concurrency %d, %s per scenario\n\n", *concurrency, d)
	report("| scenario | req/s | p50 | p99 | server CPU/req | allocs/req (server) | bytes/req (server) | store trips/req | store time/req | ratio to floor | reason |\n")
	report("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	report("| floor: do-nothing ext_authz | %.0f | %s | %s | %s | %.0f | %.0f | - | - | 1.00 | - |\n", fl.rps(), us(fl.pct(.5)), us(fl.pct(.99)), us1(floorCPU), floorAllocs, fr.bytes)
	report("| floor with %d stream workers | %.0f | %s | %s | %s | %.0f | %.0f | - | - | %.2f | - |\n", workers, tf.r.rps(), us(tf.r.pct(.5)), us(tf.r.pct(.99)), us1(tf.cpu), tf.allocs, tf.bytes, tf.r.rps()/fl.rps())
	for _, x := range rows {
		report("| %s | %.0f | %s | %s | %s | %.0f | %.0f | %.3f | %s | %.2f | %s |\n", x.r.name, x.r.rps(), us(x.r.pct(.5)), us(x.r.pct(.99)),
			us1(x.cpu), x.allocs, x.bytes, x.trips, us(x.storeTime), x.r.rps()/fl.rps(), x.r.mainReason())
	}
	st := rows[0]
	report("\nSteady state: %d requests, %d store queries (extauthz_store_query_duration_seconds_count delta); "+
		"throughput %.2f× the floor and %.2f× the floor with stream workers; server CPU per check %s against %s and %s.\n\n",
		st.r.requests, int(st.trips*float64(st.r.requests)+0.5), st.r.rps()/fl.rps(), st.r.rps()/tf.r.rps(), us1(st.cpu), us1(floorCPU), us1(tf.cpu))
	if st.trips != 0 {
		t.Errorf("steady state reached the store: %.4f trips per request", st.trips)
	}
	if st.r.mainReason() != "session_match 100%" {
		t.Errorf("steady state answered %v, want session_match only", st.r.reasons)
	}
	report("## identity_jwt: the steady state with an ID token verified per request (remembered by hash)\n\n")
	report("| scenario | req/s | p50 | p99 | server CPU/req | allocs/req (server) | store trips/req | ratio to floor (same requests) | ratio to the plain steady state | reason |\n")
	report("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	report("| floor: do-nothing ext_authz, same requests | %.0f | %s | %s | - | - | - | 1.00 | - | - |\n", jwtFloor.rps(), us(jwtFloor.pct(.5)), us(jwtFloor.pct(.99)))
	report("| %s | %.0f | %s | %s | %s | %.0f | %.3f | %.2f | %.2f | %s |\n\n", jwtRow.r.name, jwtRow.r.rps(), us(jwtRow.r.pct(.5)), us(jwtRow.r.pct(.99)),
		us1(jwtRow.cpu), jwtRow.allocs, jwtRow.trips, jwtRow.r.rps()/jwtFloor.rps(), jwtRow.r.rps()/st.r.rps(), jwtRow.r.mainReason())
	if jwtRow.trips != 0 {
		t.Errorf("identity_jwt steady state reached the store: %.4f trips per request", jwtRow.trips)
	}
	if jwtRow.r.mainReason() != "session_match 100%" {
		t.Errorf("identity_jwt steady state answered %v, want session_match only", jwtRow.r.reasons)
	}

	// Paced again, now that the scenarios above filled the caches.
	full := pace()
	report("## Paced at half the lower of the two peaks (%.0f req/s), latency from the scheduled send time\n\n", rate)
	report("Once right after the steady state, once after the scenarios above filled extauthz's caches " +
		"(entries held, from extauthz_cache_entries): the second is what a large deployment's heap looks like to the garbage collector.\n\n")
	report("| extauthz's caches | server | req/s | p50 | p99 | p99.9 |\n|---|---|---:|---:|---:|---:|\n")
	for _, p := range []pacedRun{warmCache, full} {
		label := fmt.Sprintf("%.0f sessions, %.0f profiles", p.sessions, p.profiles)
		for _, r := range p.r {
			report("| %s | %s | %.0f | %s | %s | %s |\n", label, r.name, r.rps(), us(r.pct(.5)), us(r.pct(.99)), us(r.pct(.999)))
		}
	}
	added := func(p pacedRun, q float64) string { return sus(p.r[1].pct(q) - p.r[0].pct(q)) }
	report("\nAdded by extauthz: p50 %s and p99 %s right after the steady state, p50 %s and p99 %s with the caches filled.\n\n",
		added(warmCache, .5), added(warmCache, .99), added(full, .5), added(full, .99))

	// Distinct live sessions: every request presents a random one of n.
	report("## Distinct live sessions (cache_memory default, 256MiB for all caches), uniform random choice, %s each\n\n", d)
	if *smoke {
		report("Smoke run: the %d row stands for the 1M-session row.\n\n", tiers[len(tiers)-1])
	}
	report("Each row first touches every one of its sessions once (the cache holds them all), then measures. " +
		"GC pauses are the collector's stop-the-world pauses (go_gc_duration_seconds): the collections during the measurement, " +
		"their mean pause, and the longest of the last 256 pauses (at least their p99).\n\n")
	report("| live sessions | req/s | p50 | p99 | store trips/req | ratio to floor | RSS after | GCs | GC pause mean | GC pause p99 (≤ max) |\n" +
		"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range tiers {
		x, gc := liveSessions(t, ctx, svc, pool, seed, with(ext, nil), n, measure)
		report("| %d | %.0f | %s | %s | %.3f | %.2f | %d MiB | %.0f | %s | %s |\n", n, x.r.rps(), us(x.r.pct(.5)), us(x.r.pct(.99)), x.trips,
			x.r.rps()/fl.rps(), rssKiB(t, svc.PID())/1024, gc.cycles, us(gc.mean()), us(gc.max))
	}
	report("\n")
	if *profileDir != "" {
		sec := max(int(d.Seconds()), 3)
		cpuProfile(t, ctx, "http://"+floorHTTP, filepath.Join(*profileDir, "floor.pprof"), sec, with(floor, steadyNext))
		cpuProfile(t, ctx, "http://"+svc.HTTPAddr, filepath.Join(*profileDir, "steady.pprof"), sec, with(ext, steadyNext))
		cpuProfile(t, ctx, "http://"+svc.HTTPAddr, filepath.Join(*profileDir, "rekey.pprof"), sec, with(ext, firstVisitNext))
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(rep.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// row is one measured scenario.
type row struct {
	r         result
	allocs    float64
	bytes     float64 // allocated, per request
	trips     float64
	storeTime time.Duration // spent in store queries, per request
	cpu       time.Duration // server CPU (user+system), per request
}

// gcStats are the collections of a measurement (go_gc_duration_seconds).
type gcStats struct {
	cycles, seconds float64
	max             time.Duration // the longest of the last 256 pauses
}

func (g gcStats) mean() time.Duration {
	return time.Duration(g.seconds / max(g.cycles, 1) * float64(time.Second))
}

// liveSessions seeds n live sessions (seed), has the server touch each
// once, then measures requests presenting a uniformly random one of them,
// and returns the row and the collections during the measurement.
func liveSessions(t *testing.T, ctx context.Context, svc *harness.Service, pool *pgxpool.Pool, seed func(int), base load, n int,
	measure func(string, load) row) (row, gcStats) {
	t.Helper()
	seed(n)
	exec1(t, pool, `ANALYZE extauthz_sessions`)
	reqOf := func(k int) []byte {
		return wire(request(userEmail(k%users), "extauthz_session="+token("bench-"+strconv.Itoa(k))))
	}
	w := base
	w.next = func(i uint64) []byte { return reqOf(int(i)) }
	w.duration, w.limit = 30*time.Minute, n
	w.run(ctx, "warm")
	l := base
	l.next = func(uint64) []byte { return reqOf(rand.IntN(n)) }
	m0 := scrape(t, svc)
	x := measure(strconv.Itoa(n), l)
	m1 := scrape(t, svc)
	return x, gcStats{cycles: m1.gcCount - m0.gcCount, seconds: m1.gcSeconds - m0.gcSeconds,
		max: time.Duration(m1.gcMax * float64(time.Second))}
}

// settle runs passes over the steady-state users (each user once a pass)
// until one pass makes no store query and answers session_match only, and
// fails the test if that does not happen within limit. On a slow or loaded
// machine the first requests wait for PostgreSQL and may time out (503s are
// never cached): the steady state must not be measured before it exists.
func settle(t *testing.T, ctx context.Context, svc *harness.Service, l load, limit time.Duration) {
	t.Helper()
	l.duration, l.limit = limit, users
	deadline := time.Now().Add(limit)
	for pass := 1; ; pass++ {
		m0 := scrape(t, svc)
		r := l.run(ctx, "settle")
		trips := scrape(t, svc).trips - m0.trips
		if trips == 0 && r.mainReason() == "session_match 100%" && r.requests == users {
			t.Logf("steady state settled after %d passes over %d users", pass, users)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the steady state never settled within %s: pass %d made %.0f store queries for %d requests, answers %v",
				limit, pass, trips, r.requests, r.reasons)
		}
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func us1(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
func sus(d time.Duration) string {
	return fmt.Sprintf("%+.0f µs", float64(d)/float64(time.Microsecond))
}

func exec1(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// seedSessions inserts live sessions prefix||from .. prefix||to-1 in one
// statement; session i belongs to user i%1000. The token text is computed
// in SQL exactly as token() does.
func seedSessions(t *testing.T, pool *pgxpool.Pool, prefix string, from, to int) {
	t.Helper()
	seedAppSessions(t, pool, "default", prefix, from, to)
}

// seedAppSessions is seedSessions for app.
func seedAppSessions(t *testing.T, pool *pgxpool.Pool, app, prefix string, from, to int) {
	t.Helper()
	seedSessionsOf(t, pool, app, "user", users, prefix, from, to)
}

// seedSessionsOf is seedAppSessions for the people who||k@bench.example, k <
// people: session i belongs to who||(i%people).
func seedSessionsOf(t *testing.T, pool *pgxpool.Pool, app, who string, people int, prefix string, from, to int) {
	t.Helper()
	tok := fmt.Sprintf(tokenSQL, "$1 || g")
	exec1(t, pool, `WITH p AS (
			SELECT id, email, (regexp_match(email, '^`+who+`(\d+)@'))[1]::int AS k FROM extauthz_profiles WHERE email LIKE '`+who+`%@bench.example')
		INSERT INTO extauthz_sessions (token_hash, profile_id, identity_key, email, app, created_at, renewed_at, expires_at)
		SELECT sha256(convert_to(`+tok+`, 'UTF8')), p.id, 'email:' || p.email, p.email, $4, now(), now(), now() + interval '1 day'
		FROM generate_series($2::int, $3::int - 1) g JOIN p ON p.k = g % `+strconv.Itoa(people),
		prefix, from, to, app)
}

// seedPeople adds the profiles who||0..who||n-1 @bench.example.
func seedPeople(t *testing.T, pool *pgxpool.Pool, who string, n int) {
	t.Helper()
	exec1(t, pool, `INSERT INTO extauthz_profiles (email) SELECT $1 || g || '@bench.example' FROM generate_series(0, $2 - 1) g`, who, n)
}

// The write scenarios have people of their own: max_sessions_per_profile
// (50 by default) trims a person's least recently renewed sessions on each
// insert, and the live-session rows give each of the 1000 users up to 1000
// sessions: a first visit by one of them would revoke hundreds of the
// sessions those rows present (and publish as many revocations). Here a
// first visit is by fv<k>, and an identity switch takes a session of sw<k>
// to sw<k+1>, with 20 seeded sessions per switch person.
const (
	firstVisitPeople = 1000
	switchPeople     = 5000
)

func personEmail(who string, k int) string { return who + strconv.Itoa(k) + "@bench.example" }

// startFloor builds and runs the do-nothing server; it returns its gRPC and
// HTTP addresses and its PID. The process is killed (by its PID) in t's
// cleanup.
func startFloor(t *testing.T, args ...string) (grpcAddr, httpAddr string, pid int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "floor")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "floor"
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the floor: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, append([]string{"-grpc", "127.0.0.1:0", "-http", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("floor: %v", err)
	}
	var g, h string
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "ready grpc=%s http=%s", &g, &h); err != nil {
		t.Fatalf("floor said %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return g, h, cmd.Process.Pid
}

// cpuProfile runs l while taking a CPU profile of the server at base
// (/debug/pprof/profile) and writes it to path.
func cpuProfile(t *testing.T, ctx context.Context, base, path string, sec int, l load) {
	t.Helper()
	profileWhile(t, base, path, sec, func(d time.Duration) {
		l.duration = d
		l.run(ctx, "profile")
	})
}

// profileWhile takes a CPU profile of sec seconds of the server at base
// while run drives it (for a little longer), and writes it to path.
func profileWhile(t *testing.T, base, path string, sec int, run func(time.Duration)) {
	t.Helper()
	type got struct {
		b   []byte
		err error
	}
	ch := make(chan got, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, sec))
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("%s: %s", resp.Status, b)
		}
		ch <- got{b, err}
	}()
	run(time.Duration(sec)*time.Second + 500*time.Millisecond)
	g := <-ch
	if g.err != nil {
		t.Fatalf("profile %s: %v", path, g.err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, g.b, 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CPU profile written to %s (go tool pprof -top %s)\n", path, path)
}

func floorMallocs(t *testing.T, addr string) sample {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/mallocs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s sample
	if _, err := fmt.Sscan(string(b), &s.mallocs, &s.bytes); err != nil {
		t.Fatalf("floor /mallocs %q: %v", b, err)
	}
	return s
}

type sample struct {
	mallocs, bytes, trips, storeSeconds, sessions, profiles float64
	gcCount, gcSeconds, gcMax                               float64 // go_gc_duration_seconds
}

// scrape reads the server's malloc count and its store round trips from
// /metrics.
func scrape(t *testing.T, svc *harness.Service) sample {
	t.Helper()
	code, body, err := svc.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	var s sample
	for line := range strings.Lines(body) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "go_memstats_mallocs_total "):
			s.mallocs = v
		case strings.HasPrefix(line, "go_memstats_alloc_bytes_total "):
			s.bytes = v
		case strings.HasPrefix(line, `extauthz_cache_entries{cache="sessions"}`):
			s.sessions = v
		case strings.HasPrefix(line, `extauthz_cache_entries{cache="profiles"}`):
			s.profiles = v
		case strings.HasPrefix(line, "extauthz_store_query_duration_seconds_count{"):
			s.trips += v
		case strings.HasPrefix(line, "extauthz_store_query_duration_seconds_sum{"):
			s.storeSeconds += v
		case strings.HasPrefix(line, "go_gc_duration_seconds_count "):
			s.gcCount = v
		case strings.HasPrefix(line, "go_gc_duration_seconds_sum "):
			s.gcSeconds = v
		case strings.HasPrefix(line, `go_gc_duration_seconds{quantile="1"}`):
			s.gcMax = v
		}
	}
	return s
}

// cpuTime is the user+system CPU time pid has used (/proc/PID/stat, in
// clock ticks of 1/100 s).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields resume after ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// dialN opens n client connections to addr, closed in t's cleanup: the
// load spreads over them as Envoy's would over its connections.
func dialN(t *testing.T, addr string, n int) []*grpc.ClientConn {
	t.Helper()
	var cs []*grpc.ClientConn
	for range n {
		c, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}
