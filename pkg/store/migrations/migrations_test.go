package migrations_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/store/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	pool := pgtest.Pool(t)

	if v, err := migrations.Version(ctx, pool); err != nil || v != 0 {
		t.Fatalf("Version before = %d, %v; want 0, nil", v, err)
	}
	if err := migrations.Check(ctx, pool); !errors.Is(err, migrations.ErrBehind) {
		t.Fatalf("Check before = %v, want ErrBehind", err)
	}
	for i := range 2 { // the second run finds nothing to do
		if err := migrations.Migrate(ctx, pool); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if v, err := migrations.Version(ctx, pool); err != nil || v != migrations.Expected() {
		t.Fatalf("Version after = %d, %v; want %d", v, err, migrations.Expected())
	}
	if err := migrations.Check(ctx, pool); err != nil {
		t.Fatalf("Check after: %v", err)
	}
	for _, table := range []string{"extauthz_profiles", "extauthz_sessions", "extauthz_access_tokens", migrations.Table} {
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+migrations.Table).Scan(&n); err != nil || n != len(migrations.All()) {
		t.Errorf("recorded %d migrations (%v), want %d", n, err, len(migrations.All()))
	}
	// The advisory lock went back with the connection.
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d advisory locks held after Migrate (%v)", n, err)
	}
}

func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dbURL := pgtest.URL(t)
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		pool := pgtest.PoolFor(t, dbURL) // one pool per replica
		wg.Go(func() { errs[i] = migrations.Migrate(ctx, pool) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	pool := pgtest.PoolFor(t, dbURL)
	if err := migrations.Check(ctx, pool); err != nil {
		t.Fatal(err)
	}
}

func TestFailingMigrationRollsBackAlone(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	ms := []migrations.Migration{
		{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (x int)"},
		{Version: 2, Name: "0002_b.sql", SQL: "CREATE TABLE b (x int); SELECT no_such_function()"},
		{Version: 3, Name: "0003_c.sql", SQL: "CREATE TABLE c (x int)"},
	}
	err := migrations.Apply(ctx, pool, ms)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("Apply = %v, want an error naming 0002_b.sql", err)
	}
	if authz.IsTransient(err) {
		t.Errorf("a broken migration classified as transient: %v", err)
	}
	if v, err := migrations.Version(ctx, pool); err != nil || v != 1 {
		t.Fatalf("Version = %d, %v; want 1", v, err)
	}
	var b, c bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('b') IS NOT NULL, to_regclass('c') IS NOT NULL").Scan(&b, &c); err != nil {
		t.Fatal(err)
	}
	if b || c {
		t.Errorf("table b exists=%v, c exists=%v; want neither", b, c)
	}
	// Fixed, the rest applies.
	ms[1].SQL = "CREATE TABLE b (x int)"
	if err := migrations.Apply(ctx, pool, ms); err != nil {
		t.Fatal(err)
	}
	if v, err := migrations.Version(ctx, pool); err != nil || v != 3 {
		t.Fatalf("Version = %d, %v; want 3", v, err)
	}
}

func TestDatabaseAheadIsReady(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO "+migrations.Table+" (version, name) VALUES (99999, 'from_a_newer_binary.sql')"); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate with the database ahead: %v", err)
	}
	if err := migrations.Check(ctx, pool); err != nil {
		t.Fatalf("Check with the database ahead: %v", err)
	}
}

func TestCancelledContextIsUnavailable(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := migrations.Version(ctx, pool); !errors.Is(err, authz.ErrUnavailable) {
		t.Fatalf("Version with a cancelled context = %v, want ErrUnavailable", err)
	}
	if err := migrations.Migrate(ctx, pool); !errors.Is(err, authz.ErrUnavailable) {
		t.Fatalf("Migrate with a cancelled context = %v, want ErrUnavailable", err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ms, err := migrations.Load(fstest.MapFS{
		"0002_b.sql": {Data: []byte("B")},
		"0010_c.sql": {Data: []byte("C")},
		"0001_a.sql": {Data: []byte("A")},
		"README.md":  {Data: []byte("ignored")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 || ms[0].SQL != "A" {
		t.Fatalf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate":  {"0001_a.sql": {}, "001_b.sql": {}},
		"no version": {"init.sql": {}},
		"zero":       {"0000_a.sql": {}},
	} {
		if _, err := migrations.Load(fsys); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

func TestEmbeddedMigrationsAreNumberedFromOne(t *testing.T) {
	t.Parallel()
	for i, m := range migrations.All() {
		if m.Version != i+1 {
			t.Fatalf("migration %s has version %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
	}
	if migrations.Expected() < 1 {
		t.Fatal("no embedded migrations")
	}
}
