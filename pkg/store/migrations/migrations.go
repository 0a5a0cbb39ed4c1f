package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

//go:embed *.sql
var files embed.FS

// Table records applied migrations.
const Table = "extauthz_schema_migrations"

// lockKey is the pg_advisory_lock key serialising Migrate across replicas;
// an arbitrary constant no other application is likely to pick.
const lockKey int64 = 0x2f3c5e6d0a7b4e11

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string // file name
	SQL     string
}

// ErrBehind is wrapped by Check when the database lacks migrations.
var ErrBehind = errors.New("migrations: database schema is behind")

var all = mustLoad(files)

// All returns the embedded migrations in ascending version order.
func All() []Migration { return append([]Migration(nil), all...) }

// Expected returns the highest version this binary knows.
func Expected() int {
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

func mustLoad(fsys fs.FS) []Migration {
	ms, err := load(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

// load reads NNNN_name.sql files from fsys, rejecting duplicates and names
// without a version.
func load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	seen := map[int]string{}
	var ms []Migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migrations: %s: name must be NNNN_description.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations: %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies every pending embedded migration. It is safe to call from
// several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return apply(ctx, pool, all)
}

func apply(ctx context.Context, pool *pgxpool.Pool, ms []Migration) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return pgerr.Wrap("migrations: acquire", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return pgerr.Wrap("migrations: lock", err)
	}
	defer func() {
		// A broken connection releases the lock by itself; make sure it is
		// not handed back to the pool still holding it.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey); uerr != nil {
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			if err == nil {
				err = pgerr.Wrap("migrations: unlock", uerr)
			}
		}
	}()
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+Table+` (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return pgerr.Wrap("migrations: create "+Table, err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+Table+" (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return pgerr.Wrap("migrations: apply "+m.Name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, conn *pgxpool.Conn) (map[int]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM "+Table)
	if err != nil {
		return nil, pgerr.Wrap("migrations: read applied", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, pgerr.Wrap("migrations: read applied", err)
	}
	applied := make(map[int]bool, len(vs))
	for _, v := range vs {
		applied[v] = true
	}
	return applied, nil
}

// Version returns the highest applied version, 0 when none is (or the
// bookkeeping table does not exist yet).
func Version(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", Table).Scan(&exists); err != nil {
		return 0, pgerr.Wrap("migrations: version", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+Table).Scan(&v); err != nil {
		return 0, pgerr.Wrap("migrations: version", err)
	}
	return v, nil
}

// Check returns nil when the database has every migration this binary knows
// (or more), else an error wrapping ErrBehind, or the classified error of
// asking.
func Check(ctx context.Context, pool *pgxpool.Pool) error {
	v, err := Version(ctx, pool)
	if err != nil {
		return err
	}
	if v < Expected() {
		return fmt.Errorf("%w: at version %d, want %d (run extauthz migrate)", ErrBehind, v, Expected())
	}
	return nil
}
