package session

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Postgres is the session store over the built-in extauthz_sessions table.
// It is safe for concurrent use.
type Postgres struct {
	pool       *pgxpool.Pool
	perProfile int        // live sessions kept per profile and app; <= 0: no cap
	writes     *committer // group commit of ReplaceSession, RenewSession, DeleteSession
}

var _ authz.SessionStore = (*Postgres)(nil)

// NewPostgres returns a session store using pool. The schema must be
// migrated (pkg/store/migrations).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool, writes: newCommitter(pool)}
}

// WithLimitPerProfile caps the sessions one profile holds for one app at n
// (<= 0: no cap): creating one more deletes the least recently renewed,
// in the same transaction, and publishes their revocation. A client that signs in in a
// loop (or never returns its cookie) cannot grow one person's sessions
// without bound. It returns p.
func (p *Postgres) WithLimitPerProfile(n int) *Postgres {
	p.perProfile = n
	return p
}

const columns = `token_hash, profile_id::text, identity_key, email, app, created_at, renewed_at, expires_at, stale_cookies, apps, iss, sub, sid`

func scanSession(row pgx.Row) (authz.Session, error) {
	var (
		s     authz.Session
		hash  []byte
		stale [][]byte
	)
	err := row.Scan(&hash, &s.ProfileID, &s.IdentityKey, &s.Email, &s.App, &s.CreatedAt, &s.RenewedAt, &s.ExpiresAt, &stale, &s.Apps, &s.Issuer, &s.Subject, &s.SID)
	if err != nil {
		return authz.Session{}, err
	}
	if len(hash) != len(s.Hash) { // the CHECK constraint makes this impossible
		return authz.Session{}, fmt.Errorf("stored token hash has %d bytes", len(hash))
	}
	copy(s.Hash[:], hash)
	if len(s.Apps) == 0 {
		s.Apps = nil
	}
	for _, b := range stale {
		var h cookie.Hash
		if len(b) == len(h) {
			copy(h[:], b)
			s.Stale = append(s.Stale, h)
		}
	}
	s.CreatedAt, s.RenewedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.RenewedAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// GetSession implements authz.SessionStore.
func (p *Postgres) GetSession(ctx context.Context, hash cookie.Hash) (authz.Session, error) {
	s, err := scanSession(p.pool.QueryRow(ctx, `SELECT `+columns+` FROM extauthz_sessions WHERE token_hash = $1`, hash[:]))
	if err != nil {
		return authz.Session{}, pgerr.Wrap("session: get", err)
	}
	return s, nil
}

// ReplaceSession implements authz.SessionStore. It is a write of the group
// commit (batch.go): the old session's deletion, its revocation and the
// new session (with the cap's trim and its revocations) are statements of
// one transaction that other requests' writes may share.
func (p *Postgres) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	next, err := normalise(next)
	if err != nil {
		return fmt.Errorf("session: replace: %w", err)
	}
	at := time.Now().UnixMicro()
	w := &write{op: "session: replace"}
	if !old.IsZero() {
		w.stmts = append(w.stmts, deleteStmt(old, at))
	}
	w.stmts = append(w.stmts, p.insertStmt(next, at))
	return p.writes.do(ctx, w)
}

// revoked publishes, for every token_hash the CTE x returns, its session
// event on the channel parameter ch stamped with the parameter at, in the
// statement that changed it: PostgreSQL delivers it at commit, and drops
// it with a rollback.
func revoked(ch, at string) string {
	return `SELECT pg_notify(` + ch + `, ` + notify.SessionPayloadSQL("x.token_hash", at) + `) FROM x`
}

// deleteStmt deletes h and publishes its revocation if it existed (the
// command tag counts the events: 0 for a missing row).
func deleteStmt(h cookie.Hash, at int64) stmt {
	return stmt{`WITH x AS (DELETE FROM extauthz_sessions WHERE token_hash = $1 RETURNING token_hash) ` + revoked("$2", "$3"),
		[]any{h[:], notify.Channel, at}}
}

// insertStmt adds next and, with a cap, deletes in the same statement the
// profile's least recently renewed sessions for the app beyond it (the
// statement's snapshot does not see the new row, so cap-1 others stay),
// publishing their revocations: a session renewed as it is used outlives a
// burst of new sign-ins. Rows another transaction holds (its own re-key or
// trim of the same person) are skipped, not waited for: concurrent
// sign-ins of one person would otherwise lock each other's rows in
// opposite orders and deadlock, and the cap may be exceeded for a moment
// instead.
func (p *Postgres) insertStmt(next authz.Session, at int64) stmt {
	const insert = `INSERT INTO extauthz_sessions
			(token_hash, profile_id, identity_key, email, app, created_at, renewed_at, expires_at, stale_cookies, apps, iss, sub, sid)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	args := []any{next.Hash[:], next.ProfileID, next.IdentityKey, next.Email, next.App,
		next.CreatedAt, next.RenewedAt, next.ExpiresAt, staleBytes(next.Stale), appsOrEmpty(next.Apps),
		next.Issuer, next.Subject, next.SID}
	if p.perProfile <= 0 {
		return stmt{insert, args}
	}
	return stmt{`WITH ins AS (` + insert + `), x AS (
		DELETE FROM extauthz_sessions WHERE token_hash IN (
			SELECT token_hash FROM extauthz_sessions
			WHERE profile_id = $2 AND app = $5 AND token_hash <> $1
			ORDER BY renewed_at DESC, created_at DESC, token_hash OFFSET $14
			FOR UPDATE SKIP LOCKED)
		RETURNING token_hash) ` + revoked("$15", "$16"), append(args, p.perProfile-1, notify.Channel, at)}
}

// DeleteSession implements authz.SessionStore (a write of the group
// commit).
func (p *Postgres) DeleteSession(ctx context.Context, hash cookie.Hash) error {
	return p.writes.do(ctx, &write{op: "session: delete", stmts: []stmt{deleteStmt(hash, time.Now().UnixMicro())}})
}

// RenewSession implements authz.SessionStore (a write of the group commit):
// a session that is not live at renewedAt is not renewed, and the
// renewal fails with authz.ErrNotFound.
func (p *Postgres) RenewSession(ctx context.Context, hash cookie.Hash, renewedAt, expiresAt time.Time) error {
	return p.writes.do(ctx, &write{op: "session: renew", stmts: []stmt{{
		`WITH x AS (UPDATE extauthz_sessions SET renewed_at = $4, expires_at = $5
			WHERE token_hash = $1 AND expires_at > $4 RETURNING token_hash) ` + revoked("$2", "$3"),
		[]any{hash[:], notify.Channel, time.Now().UnixMicro(), stamp(renewedAt), stamp(expiresAt)},
	}}, outcome: func(tags []pgconn.CommandTag) error {
		if tags[0].RowsAffected() == 0 {
			return fmt.Errorf("no live session: %w", authz.ErrNotFound)
		}
		return nil
	}})
}

// BindSession implements authz.SessionStore.
func (p *Postgres) BindSession(ctx context.Context, hash cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE extauthz_sessions SET
			apps = CASE WHEN $2 = app OR $2 = ANY(apps) THEN apps ELSE array_append(apps, $2) END,
			stale_cookies = stale_cookies || $3
			WHERE token_hash = $1 AND expires_at > $4`, hash[:], app, staleBytes(stale), stamp(at))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("no live session: %w", authz.ErrNotFound)
		}
		// Other replicas drop what they cached: a replica that still saw
		// the session as another app's would flush this app's cookies again.
		return notify.Publish(ctx, tx, notify.Session(hash))
	})
	return pgerr.Wrap("session: bind", err)
}

// appsOrEmpty is apps for a NOT NULL text[] column.
func appsOrEmpty(apps []string) []string {
	if apps == nil {
		return []string{}
	}
	return apps
}

// ListByProfile returns the sessions of profileID, expired ones included,
// oldest first.
func (p *Postgres) ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error) {
	id, ok := canonicalID(profileID)
	if !ok {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, `SELECT `+columns+` FROM extauthz_sessions
		WHERE profile_id = $1 ORDER BY created_at, token_hash`, id)
	if err != nil {
		return nil, pgerr.Wrap("session: list", err)
	}
	ss, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (authz.Session, error) { return scanSession(row) })
	if err != nil {
		return nil, pgerr.Wrap("session: list", err)
	}
	return ss, nil
}

// RevokeByProfile deletes every session of profileID and returns how many
// it deleted.
func (p *Postgres) RevokeByProfile(ctx context.Context, profileID string) (int, error) {
	id, ok := canonicalID(profileID)
	if !ok {
		return 0, nil
	}
	var n int
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM extauthz_sessions WHERE profile_id = $1 RETURNING token_hash`, id)
		if err != nil {
			return err
		}
		hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		events := make([]notify.Event, len(hashes))
		for i, b := range hashes {
			var h cookie.Hash
			copy(h[:], b)
			events[i] = notify.Session(h)
		}
		n = len(hashes)
		return notify.Publish(ctx, tx, events...)
	})
	if err != nil {
		return 0, pgerr.Wrap("session: revoke by profile", err)
	}
	return n, nil
}

// DeleteExpired deletes the sessions with expires_at <= before, at most
// batch (<= 0: 1000) per statement, until none is left, and returns how
// many it deleted. On error it returns the count deleted so far.
func (p *Postgres) DeleteExpired(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = defaultBatch
	}
	total := 0
	for {
		// SKIP LOCKED: replicas collecting at the same time take disjoint
		// batches instead of queueing on each other's rows.
		tag, err := p.pool.Exec(ctx, `DELETE FROM extauthz_sessions WHERE token_hash IN (
			SELECT token_hash FROM extauthz_sessions WHERE expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, stamp(before), batch)
		if err != nil {
			return total, pgerr.Wrap("session: delete expired", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < batch {
			return total, nil
		}
	}
}
