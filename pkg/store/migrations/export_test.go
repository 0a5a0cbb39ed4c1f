package migrations

import (
	"context"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Test hooks.
func Load(fsys fs.FS) ([]Migration, error) { return load(fsys) }

func Apply(ctx context.Context, pool *pgxpool.Pool, ms []Migration) error {
	return apply(ctx, pool, ms)
}
