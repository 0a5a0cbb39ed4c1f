package pgpool_test

import (
	"context"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/store/pgpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestWarmOpensMinConns(t *testing.T) {
	ctx := t.Context()
	pool, err := pgpool.Open(ctx, pgpool.Options{URL: pgtest.URL(t), MaxConns: 8, MinConns: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if n := pool.Stat().TotalConns(); n != 0 {
		t.Fatalf("a new pool holds %d connections; the test needs it lazy", n)
	}
	if err := pgpool.Warm(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if st := pool.Stat(); st.TotalConns() < 5 || st.IdleConns() < 5 {
		t.Fatalf("after Warm: %d connections, %d idle; want 5 open and idle", st.TotalConns(), st.IdleConns())
	}
}

func TestWarmReportsAnUnreachableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// A port nothing listens on: the cluster's, after it stopped.
	c := pgtest.NewCluster(t)
	url := c.NewDatabase(t)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	pool, err := pgpool.Open(ctx, pgpool.Options{URL: url, MinConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgpool.Warm(ctx, pool); err == nil {
		t.Fatal("Warm succeeded against a stopped database")
	}
}

// A query whose deadline passes is cancelled on the server and its
// connection is kept; pgx's default (CancelGrace 0) closes the connection,
// so the next query has to open a new one.
func TestTimedOutQueryKeepsItsConnection(t *testing.T) {
	url := pgtest.URL(t)
	for _, tc := range []struct {
		grace    time.Duration
		wantKept bool
	}{
		{grace: 0, wantKept: false},
		{grace: 2 * time.Second, wantKept: true},
	} {
		t.Run(tc.grace.String(), func(t *testing.T) {
			ctx := t.Context()
			pool, err := pgpool.Open(ctx, pgpool.Options{URL: url, MaxConns: 1, CancelGrace: tc.grace})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if err := pool.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = pool.Exec(qctx, "SELECT pg_sleep(30)")
			cancel()
			if err == nil {
				t.Fatal("a 30 s query finished inside 50 ms")
			}
			if err := pool.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			kept := pool.Stat().NewConnsCount() == 1
			if kept != tc.wantKept {
				t.Fatalf("connections opened: %d; want the first one kept: %v", pool.Stat().NewConnsCount(), tc.wantKept)
			}
		})
	}
}
