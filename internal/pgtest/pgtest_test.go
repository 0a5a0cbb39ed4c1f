package pgtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestURLGivesEachTestItsOwnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.Pool(t), pgtest.Pool(t)
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees a's table")
	}
	var settings struct{ fsync, maxConn string }
	if err := a.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('max_connections')").Scan(&settings.fsync, &settings.maxConn); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(pgtest.EnvURL) == "" && (settings.fsync != "off" || settings.maxConn != "200") {
		t.Errorf("fsync=%s max_connections=%s, want off/200", settings.fsync, settings.maxConn)
	}
}

func TestDatabaseIsDroppedInCleanup(t *testing.T) {
	t.Parallel()
	var dbURL string
	t.Run("inner", func(t *testing.T) { dbURL = pgtest.URL(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("database still exists after its test's cleanup")
	}
	if !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("connect: %v, want database does not exist", err)
	}
}

func TestClusterStopStart(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	dbURL := c.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.PoolFor(t, dbURL)
	if _, err := pool.Exec(ctx, "CREATE TABLE survives (x int); INSERT INTO survives VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	pid := postmasterPID(t, c)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("Running after Stop")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("postmaster %d still alive after Stop", pid)
	}
	if err := pool.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with the cluster stopped")
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The pool recovers by itself: its dead connections are replaced.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM survives").Scan(&n)
		if err == nil {
			if n != 1 {
				t.Fatalf("rows = %d after restart, want 1", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool did not recover after Start: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func postmasterPID(t *testing.T, c *pgtest.Cluster) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(errors.Join(errors.New("parsing postmaster.pid"), err))
	}
	return pid
}

// TestNoServerOutlivesACrashedTestBinary re-runs this test binary as a child
// that starts a cluster and dies without any cleanup; the postmaster must go
// with it.
func TestNoServerOutlivesACrashedTestBinary(t *testing.T) {
	if pidFile := os.Getenv("PGTEST_CRASH_CHILD"); pidFile != "" {
		c := pgtest.NewCluster(t)
		pid := postmasterPID(t, c)
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"+c.Dir), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Exit(3) // no cleanup, no Main
	}
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoServerOutlivesACrashedTestBinary$")
	cmd.Env = append(os.Environ(), "PGTEST_CRASH_CHILD="+pidFile)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child wrote no pid: %v\n%s", err, out)
	}
	pidText, dir, _ := strings.Cut(string(b), "\n")
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // the child had no chance to
	pid, _ := strconv.Atoi(pidText)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d outlived its test binary", pid)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// A standby made with pg_basebackup -R streams the primary's commits, is
// read-only until promoted, and after a clean stop of the primary and
// Promote has every row the primary committed and takes writes; a
// multi-host URL with target_session_attrs=read-write then lands on it.
func TestStandbyStreamsAndPromotes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := pgtest.NewCluster(t, pgtest.Replication())
	exec := func(url, sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	count := func(url string) int {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM rows").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := exec(primary.URL("postgres"), "CREATE TABLE rows (x int); INSERT INTO rows VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	standby := pgtest.NewStandby(t, primary)
	if err := exec(primary.URL("postgres"), "INSERT INTO rows SELECT generate_series(2, 100)"); err != nil {
		t.Fatal(err)
	}
	err := exec(standby.URL("postgres"), "INSERT INTO rows VALUES (0)")
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write on the standby: %v, want read-only", err)
	}
	both := pgtest.HostsURL("postgres", primary, standby) + "&target_session_attrs=read-write"
	if err := primary.StopClean(); err != nil {
		t.Fatal(err)
	}
	// A clean stop sends the standby all of the primary's WAL, but the
	// standby replays it on its own time; promotion ends recovery only
	// after replaying everything received, so count after it.
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	if n := count(standby.URL("postgres")); n != 100 {
		t.Fatalf("standby promoted after the primary's clean stop has %d rows, want 100", n)
	}
	if err := exec(both, "INSERT INTO rows VALUES (101)"); err != nil {
		t.Fatalf("write through the multi-host URL after promotion: %v", err)
	}
	if n := count(standby.URL("postgres")); n != 101 {
		t.Fatalf("promoted standby has %d rows, want 101", n)
	}
}
