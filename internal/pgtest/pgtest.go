package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/store/migrations"
)

// EnvURL names the environment variable pointing the tests at an existing
// server instead of a throw-away cluster.
const EnvURL = "EXTAUTHZ_TEST_DATABASE_URL"

// adminTimeout bounds CREATE DATABASE and DROP DATABASE.
const adminTimeout = time.Minute

// The shared cluster (or external server) of this test binary.
var (
	sharedOnce sync.Once
	sharedErr  error
	sharedURL  string                   // admin URL
	sharedDB   func(name string) string // URL of database name
)

// Main runs the tests of a package and then stops the shared cluster, if one
// was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	Exit(m.Run())
}

// Exit removes every cluster this process started and exits with code: for
// a TestMain that does more than Main.
func Exit(code int) {
	removeAll()
	os.Exit(code)
}

// URL returns the URL of a fresh, empty database for t, dropped in t's
// cleanup. It fails t if no PostgreSQL can be found or started.
func URL(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(startShared)
	if sharedErr != nil {
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return newDatabase(t, sharedURL, sharedDB, true)
}

// Pool returns a pool on a fresh, empty database for t (see URL), closed in
// t's cleanup before the database is dropped.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolFor(t, URL(t))
}

// PoolFor opens a pool on dbURL, closed in t's cleanup.
func PoolFor(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: opening pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("pgtest: ping: %v", err)
	}
	return pool
}

func startShared() {
	if u := os.Getenv(EnvURL); u != "" {
		sharedURL = u
		sharedDB = func(name string) string { return withDatabase(u, name) }
		return
	}
	c, err := newCluster()
	if err != nil {
		sharedErr = err
		return
	}
	sharedURL = c.URL("postgres")
	sharedDB = c.URL
}

// withDatabase returns dsn (a URL or keyword/value string) pointing at
// database name.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return dsn + " dbname=" + name
}

// newDatabase creates a database through the server at adminURL and returns
// its URL (built by dbURL); with drop, it is dropped in t's cleanup.
func newDatabase(t testing.TB, adminURL string, dbURL func(string) string, drop bool) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	if !drop {
		return dbURL(name)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		// FORCE: a test that leaked a connection must not fail the drop.
		err := adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return dbURL(name)
}

func adminExec(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName derives a unique, valid database name from a test name.
func databaseName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s_%s", b.String(), hex.EncodeToString(rnd[:]))
}

// MigratedPool returns a pool on a fresh database for t with extauthz's
// schema applied (see Pool).
func MigratedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("pgtest: migrating: %v", err)
	}
	return pool
}

// Count runs a query returning one integer (a count(*)) on dbURL, on a
// connection of its own, and fails t on any error.
func Count(t testing.TB, dbURL, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("pgtest: %s: %v", query, err)
	}
	return n
}
