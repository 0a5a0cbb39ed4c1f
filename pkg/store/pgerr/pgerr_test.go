package pgerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type class int

const (
	permanent class = iota
	notFound
	unavailable
)

func (c class) String() string { return [...]string{"permanent", "not found", "unavailable"}[c] }

func classOf(err error) class {
	switch {
	case errors.Is(err, authz.ErrNotFound):
		return notFound
	case errors.Is(err, authz.ErrUnavailable):
		return unavailable
	}
	return permanent
}

func TestClassifyConstructed(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name string
		err  error
		want class
	}{
		{"no rows", pgx.ErrNoRows, notFound},
		{"wrapped no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), notFound},
		{"deadline", context.DeadlineExceeded, unavailable},
		{"canceled", context.Canceled, unavailable},
		{"EOF", fmt.Errorf("receive: %w", io.EOF), unavailable},
		{"unexpected EOF", io.ErrUnexpectedEOF, unavailable},
		{"connection refused", opErr, unavailable},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), unavailable},
		{"broken pipe", syscall.EPIPE, unavailable},
		{"net closed", net.ErrClosed, unavailable},
		{"pool closed", puddle.ErrClosedPool, unavailable},
		{"conn closed", pgconn.ErrConnClosed, unavailable},
		{"connect error", &pgconn.ConnectError{Config: &pgconn.Config{}}, unavailable},
		{"08006 connection_failure", pg("08006"), unavailable},
		{"08001 unable_to_connect", pg("08001"), unavailable},
		{"57P01 admin_shutdown", pg("57P01"), unavailable},
		{"57P02 crash_shutdown", pg("57P02"), unavailable},
		{"57P03 cannot_connect_now", pg("57P03"), unavailable},
		{"53300 too_many_connections", pg("53300"), unavailable},
		{"57014 query_canceled", pg("57014"), unavailable},
		{"40001 serialization_failure", pg("40001"), unavailable},
		{"40P01 deadlock", pg("40P01"), unavailable},
		{"23505 unique_violation", pg("23505"), permanent},
		{"42P01 undefined_table", pg("42P01"), permanent},
		{"22P02 invalid_text", pg("22P02"), permanent},
		{"53100 disk_full", pg("53100"), permanent},
		{"plain", errors.New("something else"), permanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pgerr.Classify(c.err)
			if classOf(got) != c.want {
				t.Errorf("Classify(%v) is %v, want %v", c.err, classOf(got), c.want)
			}
			if !errors.Is(got, c.err) {
				t.Errorf("Classify(%v) = %v lost the original error", c.err, got)
			}
			if c.want == permanent && got != c.err {
				t.Errorf("permanent error changed: %v", got)
			}
			// Idempotent.
			if again := pgerr.Classify(got); again != got {
				t.Errorf("Classify twice = %v, want %v", again, got)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	if pgerr.Wrap("op", nil) != nil || pgerr.Classify(nil) != nil {
		t.Fatal("nil not kept")
	}
	err := pgerr.Wrap("profile: lookup", pgx.ErrNoRows)
	if !errors.Is(err, authz.ErrNotFound) || !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("Wrap = %v", err)
	}
	if got, want := err.Error(), "profile: lookup: not found: no rows in result set"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestClassifyRealFailures provokes each failure against a real server.
func TestClassifyRealFailures(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE u (x int PRIMARY KEY); INSERT INTO u VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	expect := func(t *testing.T, err error, want class) {
		t.Helper()
		if got := classOf(pgerr.Classify(err)); got != want {
			t.Fatalf("%v classified %v, want %v", err, got, want)
		}
	}
	t.Run("no rows", func(t *testing.T) {
		var x int
		expect(t, pool.QueryRow(ctx, "SELECT x FROM u WHERE x = 2").Scan(&x), notFound)
	})
	t.Run("unique violation", func(t *testing.T) {
		_, err := pool.Exec(ctx, "INSERT INTO u VALUES (1)")
		expect(t, err, permanent)
	})
	t.Run("syntax error", func(t *testing.T) {
		_, err := pool.Exec(ctx, "SELEC 1")
		expect(t, err, permanent)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := pool.Exec(cctx, "SELECT 1")
		expect(t, err, unavailable)
	})
	t.Run("deadline during query", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(dctx, "SELECT pg_sleep(10)")
		expect(t, err, unavailable)
	})
	t.Run("statement timeout", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '20ms'"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "SELECT pg_sleep(10)")
			return err
		})
		expect(t, err, unavailable)
	})
	t.Run("admin shutdown of the backend", func(t *testing.T) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		var pid int
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "SELECT 1")
		expect(t, err, unavailable)
	})
	t.Run("closed pool", func(t *testing.T) {
		p := pgtest.PoolFor(t, pool.Config().ConnString())
		p.Close()
		_, err := p.Exec(ctx, "SELECT 1")
		expect(t, err, unavailable)
	})
}

// TestClassifyStoppedCluster: a server that goes away and comes back.
func TestClassifyStoppedCluster(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	c := pgtest.NewCluster(t)
	dbURL := c.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// An established connection that died, then fresh connection attempts.
	for i := range 3 {
		_, err := pool.Exec(ctx, "SELECT 1")
		if err == nil {
			t.Fatalf("query %d succeeded with the server stopped", i)
		}
		if classOf(pgerr.Classify(err)) != unavailable {
			t.Fatalf("query %d: %v classified %v, want unavailable", i, err, classOf(pgerr.Classify(err)))
		}
	}
	_, err := pgx.Connect(ctx, dbURL)
	if classOf(pgerr.Classify(err)) != unavailable {
		t.Fatalf("connect to a stopped server: %v, want unavailable", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := pool.Exec(ctx, "SELECT 1")
		if err == nil {
			break
		}
		if classOf(pgerr.Classify(err)) != unavailable {
			t.Fatalf("during recovery: %v, want unavailable", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
