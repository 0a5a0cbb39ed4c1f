package token

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Postgres keeps tokens in extauthz_access_tokens.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a store over pool (migrations applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

const selectToken = `
SELECT t.token_hash, t.profile_id::text, t.name, t.created_at, t.expires_at, t.revoked_at IS NOT NULL,
       p.email, p.name, p.is_active, p.is_blocked, p.deleted_at IS NOT NULL
  FROM extauthz_access_tokens t
  JOIN extauthz_profiles p ON p.id = t.profile_id`

func scanToken(row pgx.Row) (authz.AccessToken, error) {
	var (
		at      authz.AccessToken
		hash    []byte
		expires pgtype.Timestamptz
	)
	err := row.Scan(&hash, &at.ProfileID, &at.Name, &at.CreatedAt, &expires, &at.Revoked,
		&at.Profile.Email, &at.Profile.Name, &at.Profile.Active, &at.Profile.Blocked, &at.Profile.Deleted)
	if err != nil {
		return authz.AccessToken{}, err
	}
	copy(at.Hash[:], hash)
	at.Profile.ID = at.ProfileID
	at.CreatedAt = at.CreatedAt.UTC()
	if expires.Valid {
		at.ExpiresAt = expires.Time.UTC()
	}
	return at, nil
}

// Create issues a token for profileID; a zero expires never expires.
func (s *Postgres) Create(ctx context.Context, profileID, name string, expires time.Time) (Issued, error) {
	tok, err := New()
	if err != nil {
		return Issued{}, err
	}
	h := cookie.HashString(tok)
	var exp pgtype.Timestamptz
	if !expires.IsZero() {
		exp = pgtype.Timestamptz{Time: expires, Valid: true}
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO extauthz_access_tokens (token_hash, profile_id, name, expires_at) VALUES ($1, $2, $3, $4)`,
		h[:], profileID, name, exp); err != nil {
		return Issued{}, pgerr.Wrap("token: create", err)
	}
	at, err := s.LookupAccessToken(ctx, h)
	if err != nil {
		return Issued{}, err
	}
	return Issued{Token: tok, AccessToken: at}, nil
}

// LookupAccessToken implements authz.AccessTokenStore.
func (s *Postgres) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	at, err := scanToken(s.pool.QueryRow(ctx, selectToken+` WHERE t.token_hash = $1`, h[:]))
	if err != nil {
		return authz.AccessToken{}, pgerr.Wrap("token: lookup", err)
	}
	return at, nil
}

// Revoke marks the token whose text is tok revoked and tells every replica.
func (s *Postgres) Revoke(ctx context.Context, tok string) error {
	h := cookie.HashString(tok)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE extauthz_access_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, h[:])
		if err != nil {
			return pgerr.Wrap("token: revoke", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("token: revoke: %w", authz.ErrNotFound)
		}
		return pgerr.Wrap("token: revoke: notify", notify.Publish(ctx, tx, notify.Token(h)))
	})
}

// List returns the tokens of a profile, newest first.
func (s *Postgres) List(ctx context.Context, profileID string) ([]authz.AccessToken, error) {
	rows, err := s.pool.Query(ctx, selectToken+` WHERE t.profile_id = $1 ORDER BY t.created_at DESC`, profileID)
	if err != nil {
		return nil, pgerr.Wrap("token: list", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (authz.AccessToken, error) { return scanToken(r) })
	if err != nil {
		return nil, pgerr.Wrap("token: list", err)
	}
	return out, nil
}

func sortNewest(ts []authz.AccessToken) {
	slices.SortFunc(ts, func(a, b authz.AccessToken) int { return b.CreatedAt.Compare(a.CreatedAt) })
}
