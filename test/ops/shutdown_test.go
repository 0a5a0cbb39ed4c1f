package ops_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// call is one Check of the load, timed against the signal.
type call struct {
	start, end time.Time
	code       codes.Code
	allow      bool
	reason     string
}

// TestSIGTERMUnderLoadDrainsInFlightChecks holds a known set of Checks in
// flight (their session writes wait on a table lock), sends SIGTERM, watches
// grpc.health.v1 go NOT_SERVING while they are still held, then releases
// them: every Check started before the signal completes with its decision,
// later ones either complete or are refused with Unavailable (the server
// stopped accepting), and the process exits 0 within shutdown_timeout.
func TestSIGTERMUnderLoadDrainsInFlightChecks(t *testing.T) {
	const (
		workers         = 8
		maxCallsEach    = 400
		shutdownTimeout = 20 * time.Second
	)
	db := pgtest.URL(t)
	s := harness.Start(t, harness.Options{
		DatabaseURL: db,
		// Session writes may wait up to 10s for the lock below; Envoy's
		// timeout would be set above that.
		Config: "log: {format: json}\ncookie: {secure: false}\nauto_register: true\n" +
			"lookup_timeout: 10s\nenvoy_timeout: 11s\nshutdown_timeout: " + shutdownTimeout.String() + "\n",
	})
	ctx := ctxTimeout(t, 2*time.Minute)

	// alice exists (auto_register); every Check without a cookie re-keys,
	// which writes a session row.
	if r, err := s.Check(ctx, alice("")); err != nil || harness.Read(r).Reason() != "rekey" {
		t.Fatalf("warm-up: %v %v", r, err)
	}

	// The health watcher has its own connection, as Envoy's would.
	hconn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hconn.Close()
	watch, err := healthpb.NewHealthClient(hconn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before: %v %v", m, err)
	}
	var health []healthpb.HealthCheckResponse_ServingStatus
	var healthEnd error
	notServing := make(chan time.Time, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			m, err := watch.Recv()
			if err != nil {
				healthEnd = err
				return
			}
			health = append(health, m.GetStatus())
			if m.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
				select {
				case notServing <- time.Now():
				default:
				}
			}
		}
	}()

	// Bounded load: workers × at most maxCallsEach Checks.
	var (
		mu       sync.Mutex
		calls    []call
		inFlight atomic.Int32
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range maxCallsEach {
				if stop.Load() {
					return
				}
				c := call{start: time.Now()}
				inFlight.Add(1)
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				r, err := s.Check(cctx, alice(""))
				cancel()
				inFlight.Add(-1)
				c.end, c.code = time.Now(), status.Code(err)
				if err == nil {
					res := harness.Read(r)
					c.allow, c.reason = res.Allow, res.Reason()
				}
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
				if err != nil {
					return // the server stopped accepting
				}
			}
		}()
	}
	completed := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
	eventually(t, 30*time.Second, "load running", func() bool { return completed() >= 5*workers })

	// Hold every worker's next Check: its session insert waits for this lock.
	lockConn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Close(context.Background())
	tx, err := lockConn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE extauthz_sessions IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	// Session writes are group-committed (pkg/session): the held Checks'
	// inserts wait in a few batches, one blocked connection each, not one
	// per Check. Every worker is held once they are all in flight, a
	// batch waits for the lock, and no Check completed since the last look.
	last := -1
	eventually(t, 10*time.Second, "every worker blocked on the lock", func() bool {
		var waiting int
		err := lockConn.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'extauthz_sessions' AND NOT l.granted`).Scan(&waiting)
		n := completed()
		settled := n == last
		last = n
		return err == nil && waiting >= 1 && inFlight.Load() == workers && settled
	})
	held := completed()

	signalAt := time.Now()
	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Draining: NOT_SERVING while the held Checks are still in flight;
	// /readyz fails, /healthz still answers.
	select {
	case at := <-notServing:
		t.Logf("NOT_SERVING %s after SIGTERM", at.Sub(signalAt).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("health never went NOT_SERVING")
	}
	if n := inFlight.Load(); n != workers || completed() != held {
		t.Fatalf("held Checks finished before release: in flight %d, completed %d→%d", n, held, completed())
	}
	if code := httpStatus(s, "/readyz"); code != 503 {
		t.Errorf("/readyz during drain = %d, want 503", code)
	}
	if code := httpStatus(s, "/healthz"); code != 200 {
		t.Errorf("/healthz during drain = %d, want 200", code)
	}
	if exited, _ := s.Wait(0); exited {
		t.Fatal("exited with Checks in flight")
	}

	// Release: the held Checks complete, the process exits on its own.
	releasedAt := time.Now()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	exited, exitErr := s.Wait(shutdownTimeout)
	if !exited {
		t.Fatalf("still running %s after SIGTERM", shutdownTimeout)
	}
	if exitErr != nil {
		t.Fatalf("exit: %v\n%s", exitErr, s.Logs())
	}
	exitAfter := time.Since(signalAt)
	stop.Store(true)
	wg.Wait()
	<-watchDone

	var before, beforeOK, after, afterOK, afterRefused int
	var problems []string
	for _, c := range calls {
		if c.start.Before(signalAt) {
			before++
			if c.code == codes.OK && c.allow && c.reason == "rekey" {
				beforeOK++
			} else {
				problems = append(problems, fmt.Sprintf("started %s before SIGTERM: %v allow=%t %q", signalAt.Sub(c.start), c.code, c.allow, c.reason))
			}
			continue
		}
		after++
		switch c.code {
		case codes.OK:
			afterOK++
		case codes.Unavailable:
			afterRefused++
		default:
			problems = append(problems, fmt.Sprintf("started after SIGTERM: %v", c.code))
		}
	}
	t.Logf("Checks started before SIGTERM: %d, all OK: %d (held in flight across the signal: %d); after: %d (%d OK, %d Unavailable); exit 0 after %s (%s after release)",
		before, beforeOK, workers, after, afterOK, afterRefused, exitAfter.Round(time.Millisecond), time.Since(releasedAt).Round(time.Millisecond))
	if len(problems) > 0 {
		t.Errorf("%d Checks failed:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	if before != held+workers {
		t.Errorf("started before SIGTERM = %d, want the %d completed plus the %d held", before, held, workers)
	}
	if len(health) == 0 || health[len(health)-1] != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health updates %v, want ending NOT_SERVING", health)
	}
	// The Watch stream ended by the server on drain (OK → io.EOF), not cut
	// by a forced stop.
	if healthEnd == nil || !strings.Contains(healthEnd.Error(), "EOF") {
		t.Errorf("health Watch ended with %v, want a clean end (EOF)", healthEnd)
	}
	if !strings.Contains(s.Logs(), `"msg":"stopped"`) || strings.Contains(s.Logs(), "shutdown timeout") {
		t.Errorf("not a clean drain:\n%s", s.Logs())
	}
}

// Liveness never depends on the database; readiness does, and recovers
// without a restart.
func TestDatabaseOutageFailsReadinessNotLiveness(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dbURL := cluster.NewDatabase(t)
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL, Config: "log: {format: json}\n"})
	ctx := ctxTimeout(t, 2*time.Minute)
	eventually(t, 10*time.Second, "/readyz 200 with the database up", func() bool { return httpStatus(s, "/readyz") == 200 })
	hc := healthpb.NewHealthClient(s.Conn())
	grpcHealth := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return -1
		}
		return r.GetStatus()
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "/readyz 503 with the database down", func() bool { return httpStatus(s, "/readyz") == 503 })
	_, body, _ := s.Get("/readyz")
	if !strings.Contains(body, `"database"`) || strings.Contains(body, `"database":"ok"`) {
		t.Errorf("/readyz body does not name the database: %s", body)
	}
	// It names the failing check, never the database's user, name or
	// host (the log has those).
	if u, err := url.Parse(dbURL); err == nil {
		for _, secret := range []string{u.User.Username(), strings.TrimPrefix(u.Path, "/"), u.Hostname(), u.Port()} {
			if secret != "" && strings.Contains(body, secret) {
				t.Errorf("/readyz reveals %q: %s", secret, body)
			}
		}
	}
	for range 5 {
		if code := httpStatus(s, "/healthz"); code != 200 {
			t.Fatalf("/healthz during the outage = %d, want 200", code)
		}
		for _, svc := range []string{"", "envoy.service.auth.v3.Authorization"} {
			if st := grpcHealth(svc); st != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("grpc health %q during the outage = %v, want SERVING (the probe must not restart the pod)", svc, st)
			}
		}
	}
	// A decision that needs the database is a deny-503, not an error.
	r, err := s.Check(ctx, alice(""))
	if err != nil {
		t.Fatal(err)
	}
	if res := harness.Read(r); res.Status != 503 || res.Reason() != "lookup_unavailable" {
		t.Errorf("Check during the outage: %d %s", res.Status, res.Reason())
	}

	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "/readyz 200 after the database is back", func() bool { return httpStatus(s, "/readyz") == 200 })
}
