package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/store/notify"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Postgres is the profile source over the built-in extauthz_profiles table.
// It is safe for concurrent use.
type Postgres struct {
	pool    *pgxpool.Pool
	lookups *lookups // LookupProfile, batched (batch.go)
}

var _ authz.ProfileSource = (*Postgres)(nil)

// NewPostgres returns a profile source using pool. The schema must be
// migrated (pkg/store/migrations).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool, lookups: newLookups(pool)}
}

const columns = `id::text, email, name, is_active, is_blocked, deleted_at IS NOT NULL, updated_at, coalesce(registered_by, '')`

func scanProfile(row pgx.Row) (authz.Profile, error) {
	var p authz.Profile
	err := row.Scan(&p.ID, &p.Email, &p.Name, &p.Active, &p.Blocked, &p.Deleted, &p.Modified, &p.RegisteredBy)
	p.Modified = p.Modified.UTC()
	return p, err
}

// LookupProfile implements authz.ProfileSource. Concurrent lookups share
// one query (batch.go).
func (s *Postgres) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	return s.lookups.lookup(ctx, email)
}

// ByID returns the profile with id.
func (s *Postgres) ByID(ctx context.Context, id string) (authz.Profile, error) {
	cid, ok := canonicalID(id)
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: by id: malformed id: %w", authz.ErrNotFound)
	}
	p, err := scanProfile(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM extauthz_profiles WHERE id = $1`, cid))
	if err != nil {
		return authz.Profile{}, pgerr.Wrap("profile: by id", err)
	}
	return p, nil
}

// RegisterProfile implements authz.ProfileSource.
func (s *Postgres) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: register: empty email: %w", ErrInvalid)
	}
	var p authz.Profile
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// ON CONFLICT waits for a concurrent insert of the same email to
		// commit, then does nothing; the SELECT that follows (a new snapshot,
		// READ COMMITTED) sees that row.
		var err error
		p, err = scanProfile(tx.QueryRow(ctx, `INSERT INTO extauthz_profiles (email, name, registered_by)
			VALUES ($1, $2, NULLIF($3, '')) ON CONFLICT (email) DO NOTHING RETURNING `+columns, email, name, app))
		if err == nil {
			return notify.Publish(ctx, tx, notify.Profile(p.ID, p.Email))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		p, err = scanProfile(tx.QueryRow(ctx, `SELECT `+columns+` FROM extauthz_profiles WHERE email = $1`, email))
		return err
	})
	if err != nil {
		// No rows here would mean the row vanished between the two
		// statements (a hard delete): not "not found" for the caller.
		if errors.Is(err, pgx.ErrNoRows) {
			return authz.Profile{}, fmt.Errorf("profile: register: profile removed concurrently: %w", authz.ErrUnavailable)
		}
		return authz.Profile{}, pgerr.Wrap("profile: register", err)
	}
	return p, nil
}

// AddProfile creates a profile, failing with ErrExists if the email is
// taken by a profile an operator added or by a deleted one. A live profile
// an app auto-registered is adopted instead: it keeps its id and takes
// the given flags (and name, when given), and every app knows it.
func (s *Postgres) AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: add: empty email: %w", ErrInvalid)
	}
	var p authz.Profile
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// An existing row is updated only when it is an app's live
		// registration; otherwise no row comes back: the email is taken.
		var err error
		p, err = scanProfile(tx.QueryRow(ctx, `INSERT INTO extauthz_profiles AS p (email, name, is_active, is_blocked)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (email) DO UPDATE SET registered_by = NULL, is_active = $3, is_blocked = $4,
				name = CASE WHEN $2 = '' THEN p.name ELSE $2 END, updated_at = now()
			WHERE p.registered_by IS NOT NULL AND p.deleted_at IS NULL
			RETURNING `+columns, email, name, active, blocked))
		if err != nil {
			return err
		}
		return notify.Publish(ctx, tx, notify.Profile(p.ID, p.Email))
	})
	if isUniqueViolation(err) || errors.Is(err, pgx.ErrNoRows) {
		return authz.Profile{}, fmt.Errorf("profile: add: %w", ErrExists)
	}
	if err != nil {
		return authz.Profile{}, pgerr.Wrap("profile: add", err)
	}
	return p, nil
}

// SetBlocked blocks or unblocks the profile with email.
func (s *Postgres) SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error) {
	return s.update(ctx, "profile: set blocked",
		`UPDATE extauthz_profiles SET is_blocked = $2, updated_at = now() WHERE email = $1 RETURNING `+columns,
		email, blocked)
}

// SetActive activates or deactivates the profile with email. Activating
// adopts an auto-registered profile (see AddProfile).
func (s *Postgres) SetActive(ctx context.Context, email string, active bool) (authz.Profile, error) {
	return s.update(ctx, "profile: set active",
		`UPDATE extauthz_profiles SET is_active = $2,
			registered_by = CASE WHEN $2 THEN NULL ELSE registered_by END, updated_at = now()
			WHERE email = $1 RETURNING `+columns,
		email, active)
}

// Delete soft-deletes the profile with email. Deleting a deleted profile
// keeps its first deletion time.
func (s *Postgres) Delete(ctx context.Context, email string) error {
	_, err := s.update(ctx, "profile: delete",
		`UPDATE extauthz_profiles SET deleted_at = coalesce(deleted_at, now()), updated_at = now()
			WHERE email = $1 RETURNING `+columns,
		email)
	return err
}

// update runs one UPDATE … RETURNING of a profile and publishes its event
// in the same transaction.
func (s *Postgres) update(ctx context.Context, op, sql string, args ...any) (authz.Profile, error) {
	var p authz.Profile
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if p, err = scanProfile(tx.QueryRow(ctx, sql, args...)); err != nil {
			return err
		}
		return notify.Publish(ctx, tx, notify.Profile(p.ID, p.Email))
	})
	if err != nil {
		return authz.Profile{}, pgerr.Wrap(op, err)
	}
	return p, nil
}

// SetEmail changes the email of the profile id, failing with ErrExists if
// the new email is taken. Caches of both emails are invalidated.
func (s *Postgres) SetEmail(ctx context.Context, id, email string) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: set email: empty email: %w", ErrInvalid)
	}
	cid, ok := canonicalID(id)
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: set email: malformed id: %w", authz.ErrNotFound)
	}
	var p authz.Profile
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var old string
		if err := tx.QueryRow(ctx, `SELECT email FROM extauthz_profiles WHERE id = $1 FOR UPDATE`, cid).Scan(&old); err != nil {
			return err
		}
		var err error
		p, err = scanProfile(tx.QueryRow(ctx, `UPDATE extauthz_profiles SET email = $2, updated_at = now()
			WHERE id = $1 RETURNING `+columns, cid, email))
		if err != nil {
			return err
		}
		return notify.Publish(ctx, tx, notify.Profile(p.ID, old), notify.Profile(p.ID, p.Email))
	})
	if isUniqueViolation(err) {
		return authz.Profile{}, fmt.Errorf("profile: set email: %w", ErrExists)
	}
	if err != nil {
		return authz.Profile{}, pgerr.Wrap("profile: set email", err)
	}
	return p, nil
}

// List returns every profile, deleted ones included, ordered by email.
func (s *Postgres) List(ctx context.Context) ([]authz.Profile, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM extauthz_profiles ORDER BY email COLLATE "C"`)
	if err != nil {
		return nil, pgerr.Wrap("profile: list", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (authz.Profile, error) { return scanProfile(row) })
	if err != nil {
		return nil, pgerr.Wrap("profile: list", err)
	}
	return ps, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
