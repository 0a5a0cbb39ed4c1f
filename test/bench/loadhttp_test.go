package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestHTTPBench compares extauthz's HTTP check (/check, the endpoint of
// Traefik forwardAuth and Caddy forward_auth) in its steady state with the
// endpoint every oauth2-proxy deployment already pays for on each request
// (/oauth2/auth, what nginx auth_request calls; cookie session store, a
// session obtained through a mock IdP) and with a do-nothing HTTP server
// (the floor's /check). One load generator, the same browser-like headers,
// concurrency -bench.concurrency, every server on 127.0.0.1 in its own
// process. The closed-loop runs are interleaved: each round measures every
// server once, in a rotated order, and the report takes each server's
// median round, so that a slow spell of the shared machine does not land
// on one server only. Then each server is paced at half the lowest peak,
// latency measured from the scheduled send time.
func TestHTTPBench(t *testing.T) {
	if os.Getenv("EXTAUTHZ_BENCH") == "" {
		t.Skip("set EXTAUTHZ_BENCH=1 (make bench) to run the load benchmark")
	}
	ctx := t.Context()
	d, rounds := *duration, 3
	if *smoke {
		d, rounds = 500*time.Millisecond, 1
	}
	var rep strings.Builder
	report := func(format string, args ...any) {
		fmt.Fprintf(&rep, format, args...)
		fmt.Printf(format, args...)
	}

	// extauthz on a throw-away PostgreSQL with 1000 profiles, each with a
	// live session (app "default": /check without an app suffix).
	dbURL := pgtest.URL(t)
	harness.CLI(t, []string{"EXTAUTHZ_DATABASE_URL=" + dbURL}, "migrate")
	pool := pgtest.PoolFor(t, dbURL)
	exec1(t, pool, `INSERT INTO extauthz_profiles (email) SELECT 'user' || g || '@bench.example' FROM generate_series(0, $1 - 1) g`, users)
	seedSessions(t, pool, "bench-", 0, users)
	exec1(t, pool, `VACUUM ANALYZE`)
	svc := harness.Start(t, harness.Options{DatabaseURL: dbURL, Args: []string{"--log-level", "warn", "--pprof"}})
	_, floorHTTP, floorPID := startFloor(t)
	o2pAddr, o2pCookie, o2pPID := startOAuth2Proxy(t)

	// The browser's request as the proxy forwards it to the check.
	base := http.Header{
		"User-Agent":         {"Mozilla/5.0 (X11; Linux x86_64) bench"},
		"Accept":             {"text/html,application/xhtml+xml"},
		"Accept-Language":    {"en"},
		"X-Forwarded-Method": {"GET"},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Host":   {"plane.example.com"},
		"X-Forwarded-Uri":    {"/projects/42"},
		"X-Forwarded-For":    {"10.0.0.1"},
		"X-Request-Id":       {"7f0c2a4e-bench"},
	}
	with := func(kv ...string) http.Header {
		h := base.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	extHeaders := make([]http.Header, users)
	for k := range users {
		extHeaders[k] = with("X-Auth-Request-Email", userEmail(k), "X-Auth-Request-User", userEmail(k),
			"Cookie", "extauthz_session="+token("bench-"+strconv.Itoa(k)))
	}
	o2pHeader := with("Cookie", o2pCookie)
	targets := []*httpTarget{
		{name: "floor: do-nothing HTTP server", url: "http://" + floorHTTP + "/check", want: 200, pid: floorPID,
			header: func(i uint64) http.Header { return extHeaders[i%users] }},
		{name: "oauth2-proxy /oauth2/auth", url: "http://" + o2pAddr + "/oauth2/auth", want: 202, pid: o2pPID,
			header: func(uint64) http.Header { return o2pHeader }},
		{name: "extauthz /check (session_match)", url: "http://" + svc.CheckAddr + "/check", want: 200, reason: "session_match", pid: svc.PID(),
			header: func(i uint64) http.Header { return extHeaders[i%users] }},
	}
	for _, tg := range targets {
		tg.init(t, *concurrency)
		// Warm (connections, extauthz's caches) until a whole warm-up gets
		// good answers only: on a loaded machine extauthz's first lookups
		// may time out (503, never cached), and the steady state must not
		// be measured before it exists.
		for try := 1; ; try++ {
			r := tg.run(ctx, "warm", *concurrency, max(d/2, 500*time.Millisecond), 0)
			if r.errors == 0 {
				break
			}
			if try == 10 {
				t.Fatalf("%s never answered well while warming: %v", tg.name, r.reasons)
			}
		}
	}

	byTarget := make([][]result, len(targets))
	for round := range rounds {
		for j := range targets {
			i := (j + round) % len(targets)
			c0 := cpuTime(t, targets[i].pid)
			r := targets[i].run(ctx, targets[i].name, *concurrency, d, 0)
			r.cpu = (cpuTime(t, targets[i].pid) - c0) / time.Duration(max(r.requests, 1))
			if r.errors > 0 {
				t.Errorf("%s, round %d: %d unexpected answers (%v)", targets[i].name, round+1, r.errors, r.reasons)
			}
			byTarget[i] = append(byTarget[i], r)
		}
	}
	median := func(rs []result) result {
		s := slices.Clone(rs)
		slices.SortFunc(s, func(a, b result) int {
			switch {
			case a.rps() < b.rps():
				return -1
			case a.rps() > b.rps():
				return 1
			}
			return 0
		})
		return s[len(s)/2]
	}
	med := make([]result, len(targets))
	for i := range targets {
		med[i] = median(byTarget[i])
	}
	fl, o2p, ext := med[0], med[1], med[2]

	report("## HTTP check: closed loop, concurrency %d, %d interleaved rounds of %s per server (median round)\n\n", *concurrency, rounds, d)
	report("| server | req/s | p50 | p99 | server CPU/req | rounds (req/s) | ratio to floor | answer |\n|---|---:|---:|---:|---:|---|---:|---|\n")
	for i, tg := range targets {
		var each []string
		for _, r := range byTarget[i] {
			each = append(each, fmt.Sprintf("%.0f", r.rps()))
		}
		report("| %s | %.0f | %s | %s | %s | %s | %.2f | %s |\n", tg.name, med[i].rps(), us(med[i].pct(.5)), us(med[i].pct(.99)),
			us1(med[i].cpu), strings.Join(each, ", "), med[i].rps()/fl.rps(), med[i].mainReason())
	}
	report("\nextauthz's HTTP check: %.2f× oauth2-proxy's /oauth2/auth and %.2f× the do-nothing HTTP server in throughput; "+
		"server CPU per check %s against %s (oauth2-proxy) and %s (floor).\n\n",
		ext.rps()/o2p.rps(), ext.rps()/fl.rps(), us1(ext.cpu), us1(o2p.cpu), us1(fl.cpu))

	rate := min(fl.rps(), o2p.rps(), ext.rps()) / 2
	report("## HTTP check: paced at half the lowest peak (%.0f req/s), latency from the scheduled send time\n\n", rate)
	report("| server | req/s | p50 | p99 | p99.9 |\n|---|---:|---:|---:|---:|\n")
	paced := make([]result, len(targets))
	for i, tg := range targets {
		tg.run(ctx, "warm", *concurrency, time.Second, 0)
		paced[i] = tg.run(ctx, tg.name, *concurrency, d, rate)
		if paced[i].errors > 0 {
			t.Errorf("%s, paced: %d unexpected answers (%v)", tg.name, paced[i].errors, paced[i].reasons)
		}
		report("| %s | %.0f | %s | %s | %s |\n", tg.name, paced[i].rps(), us(paced[i].pct(.5)), us(paced[i].pct(.99)), us(paced[i].pct(.999)))
	}
	added := func(i int, q float64) string { return sus(paced[i].pct(q) - paced[0].pct(q)) }
	report("\nAdded over the floor: extauthz p50 %s, p99 %s; oauth2-proxy p50 %s, p99 %s.\n\n", added(2, .5), added(2, .99), added(1, .5), added(1, .99))

	if *profileDir != "" {
		sec := max(int(d.Seconds()), 3)
		for _, p := range []struct {
			base, file string
			tg         *httpTarget
		}{
			{"http://" + floorHTTP, "http-floor.pprof", targets[0]},
			{"http://" + svc.HTTPAddr, "http-check.pprof", targets[2]},
		} {
			profileWhile(t, p.base, filepath.Join(*profileDir, p.file), sec, func(d time.Duration) {
				p.tg.run(ctx, "profile", *concurrency, d, 0)
			})
		}
	}
	if got := ext.mainReason(); got != "session_match 100%" {
		t.Errorf("extauthz's steady state answered %v, want session_match only", ext.reasons)
	}
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(rep.String()); err != nil {
			t.Fatal(err)
		}
	}
}

// httpTarget is one HTTP server under load.
type httpTarget struct {
	name   string
	url    string
	want   int                        // the status of a good answer
	reason string                     // the X-Extauthz-Reason of a good answer ("" none)
	header func(i uint64) http.Header // request i's headers (shared, read only)
	pid    int                        // the server's process, for its CPU time
	u      *url.URL
	client *http.Client
}

func (tg *httpTarget) init(t *testing.T, concurrency int) {
	t.Helper()
	u, err := url.Parse(tg.url)
	if err != nil {
		t.Fatal(err)
	}
	tg.u = u
	tg.client = &http.Client{
		Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency,
			DisableCompression: true, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	t.Cleanup(tg.client.CloseIdleConnections)
}

// run is load.run for an HTTP server: closed loop (rate 0) or paced at
// rate req/s in total, for duration. An answer other than the target's
// good one counts as an error; reasons counts the good answers by
// X-Extauthz-Reason ("ok" without one).
func (tg *httpTarget) run(ctx context.Context, name string, concurrency int, duration time.Duration, rate float64) result {
	var (
		counter atomic.Uint64
		mu      sync.Mutex
		res     = result{name: name, reasons: map[string]int{}}
		wg      sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(duration)
	for w := range concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<14)
			reasons := map[string]int{}
			errs := 0
			buf := make([]byte, 4096)
			for k := 0; ; k++ {
				var sched time.Time
				if rate > 0 {
					sched = start.Add(time.Duration(float64(k*concurrency+w) / rate * float64(time.Second)))
					if d := time.Until(sched); d > 0 {
						time.Sleep(d)
					}
				}
				now := time.Now()
				if now.After(end) {
					break
				}
				if rate == 0 {
					sched = now
				}
				i := counter.Add(1) - 1
				req := (&http.Request{Method: "GET", URL: tg.u, Host: tg.u.Host, Header: tg.header(i),
					Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(ctx)
				resp, err := tg.client.Do(req)
				if err == nil {
					for {
						if _, rerr := resp.Body.Read(buf); rerr != nil {
							break
						}
					}
					resp.Body.Close()
				}
				lat = append(lat, time.Since(sched))
				reason := ""
				if err == nil {
					reason = resp.Header.Get("X-Extauthz-Reason")
				}
				if err != nil || resp.StatusCode != tg.want || reason != tg.reason {
					errs++
					if err == nil {
						reasons[fmt.Sprintf("%d %s", resp.StatusCode, reason)]++
					}
					continue
				}
				if reason == "" {
					reason = "ok"
				}
				reasons[reason]++
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			for k, v := range reasons {
				res.reasons[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.elapsed > duration {
		res.elapsed = duration
	}
	res.requests = len(res.lat)
	slices.Sort(res.lat)
	return res
}

// startOAuth2Proxy runs the pinned oauth2-proxy (scripts/tool.sh) against a
// mock IdP on loopback, with the cookie session store and request logging
// off, signs a user in through the IdP, and returns its address and the
// session's Cookie header and its PID. The process is stopped by its PID in t's
// cleanup.
func startOAuth2Proxy(t *testing.T) (addr, cookie string, pid int) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "tool.sh"), "--path", "oauth2-proxy").Output()
	if err != nil {
		t.Fatalf("scripts/tool.sh --path oauth2-proxy: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatalf("mockoidc: %v", err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	addr = harness.FreeAddr(t)
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg := idp.Config()
	cmd := exec.Command(bin,
		"--http-address="+addr,
		"--provider=oidc",
		"--oidc-issuer-url="+cfg.Issuer,
		"--client-id="+cfg.ClientID,
		"--client-secret="+cfg.ClientSecret,
		"--redirect-url=http://"+addr+"/oauth2/callback",
		"--cookie-secret="+hex.EncodeToString(secret),
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream=static://200",
		"--set-xauthrequest=true",
		"--skip-provider-button=true",
		"--request-logging=false",
	)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not answer /ping within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	idp.QueueUser(&mockoidc.MockUser{Subject: "bench-sub", Email: "user0@bench.example", EmailVerified: true, PreferredUsername: "user0"})
	resp, err := c.Get("http://" + addr + "/oauth2/start?rd=%2F")
	if err != nil {
		t.Fatalf("signing in to oauth2-proxy: %v", err)
	}
	resp.Body.Close()
	u, _ := url.Parse("http://" + addr + "/")
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	cookie = strings.Join(parts, "; ")
	req, _ := http.NewRequest("GET", "http://"+addr+"/oauth2/auth", nil)
	req.Header.Set("Cookie", cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 || resp.Header.Get("X-Auth-Request-Email") != "user0@bench.example" {
		t.Fatalf("oauth2-proxy /oauth2/auth with the session: %s, email %q (cookie %d bytes)", resp.Status, resp.Header.Get("X-Auth-Request-Email"), len(cookie))
	}
	return addr, cookie, cmd.Process.Pid
}
