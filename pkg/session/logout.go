package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Logout is one back-channel logout (OpenID Connect Back-Channel Logout
// 1.0) to record: the sessions of SID (or, without one, of Subject) made
// from Issuer's tokens are revoked in every app.
type Logout struct {
	Issuer  string
	Subject string
	SID     string
	JTI     string
	// At is the logout token's iat: a token of Subject issued at or before
	// it no longer counts.
	At time.Time
	// JTIUntil is how long JTI must be remembered (the logout token stops
	// being acceptable then); Until how long the logout is.
	JTIUntil time.Time
	Until    time.Time
}

// ErrReplay: the logout token's jti was used before. Nothing was changed.
var ErrReplay = errors.New("logout token already used")

func (lo Logout) check() error {
	if lo.Issuer == "" || lo.JTI == "" || (lo.Subject == "" && lo.SID == "") {
		return fmt.Errorf("logout needs an issuer, a jti and a subject or sid: %w", ErrInvalid)
	}
	return nil
}

// Logout records lo once per (issuer, jti) across replicas and revokes its
// sessions in every app, publishing their revocation and the logout
// itself in the same transaction. It returns how many sessions it revoked;
// a jti seen before is ErrReplay, and nothing changes.
func (p *Postgres) Logout(ctx context.Context, lo Logout) (int, error) {
	if err := lo.check(); err != nil {
		return 0, fmt.Errorf("session: logout: %w", err)
	}
	var n int
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO extauthz_oidc_jtis (iss, jti, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, lo.Issuer, lo.JTI, stamp(lo.JTIUntil))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrReplay
		}
		if _, err := tx.Exec(ctx, `INSERT INTO extauthz_oidc_logouts (iss, sub, sid, logged_out_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, lo.Issuer, lo.Subject, lo.SID, stamp(lo.At), stamp(lo.Until)); err != nil {
			return err
		}
		events, err := revokeLoggedOut(ctx, tx, lo)
		if err != nil {
			return err
		}
		n = len(events)
		return notify.Publish(ctx, tx, append(events, notify.Logout(lo.Issuer, lo.Subject, lo.SID, lo.At, lo.Until))...)
	})
	if errors.Is(err, ErrReplay) {
		return 0, fmt.Errorf("session: logout: %w", err)
	}
	if err != nil {
		return 0, pgerr.Wrap("session: logout", err)
	}
	return n, nil
}

// revokeLoggedOut deletes the sessions lo names and returns their
// revocation events: those of its sid, and of its subject made from a
// token without a sid (nothing tells them apart from the ended session);
// without a sid, every session of its subject.
func revokeLoggedOut(ctx context.Context, tx pgx.Tx, lo Logout) ([]notify.Event, error) {
	q := `DELETE FROM extauthz_sessions WHERE iss = $1
		AND ((sid = $2 AND sid <> '') OR (sid = '' AND sub = $3 AND sub <> '')) RETURNING token_hash`
	if lo.SID == "" {
		q = `DELETE FROM extauthz_sessions WHERE iss = $1 AND $2 = '' AND sub = $3 AND sub <> '' RETURNING token_hash`
	}
	rows, err := tx.Query(ctx, q, lo.Issuer, lo.SID, lo.Subject)
	if err != nil {
		return nil, err
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, err
	}
	events := make([]notify.Event, 0, len(hashes))
	for _, b := range hashes {
		var h cookie.Hash
		copy(h[:], b)
		events = append(events, notify.Session(h))
	}
	return events, nil
}

// Logouts returns the logouts kept at now, for a replica's ledger.
func (p *Postgres) Logouts(ctx context.Context, now time.Time) ([]Logout, error) {
	rows, err := p.pool.Query(ctx, `SELECT iss, sub, sid, logged_out_at, expires_at FROM extauthz_oidc_logouts
		WHERE expires_at > $1`, stamp(now))
	if err != nil {
		return nil, pgerr.Wrap("session: logouts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Logout, error) {
		var lo Logout
		err := r.Scan(&lo.Issuer, &lo.Subject, &lo.SID, &lo.At, &lo.Until)
		lo.At, lo.Until = lo.At.UTC(), lo.Until.UTC()
		return lo, err
	})
	if err != nil {
		return nil, pgerr.Wrap("session: logouts", err)
	}
	return out, nil
}

// DeleteExpiredLogouts forgets the logouts and jtis kept until before.
func (p *Postgres) DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for _, q := range []string{
		`DELETE FROM extauthz_oidc_logouts WHERE expires_at <= $1`,
		`DELETE FROM extauthz_oidc_jtis WHERE expires_at <= $1`,
	} {
		tag, err := p.pool.Exec(ctx, q, stamp(before))
		if err != nil {
			return n, pgerr.Wrap("session: delete expired logouts", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// Logout implements the Postgres method of the same name in memory.
func (m *Memory) Logout(ctx context.Context, lo Logout) (int, error) {
	if err := lo.check(); err != nil {
		return 0, fmt.Errorf("session: logout: %w", err)
	}
	if err := unavailable(ctx, "logout"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{lo.Issuer, lo.JTI}
	if m.jtis == nil {
		m.jtis = map[[2]string]time.Time{}
	}
	if _, seen := m.jtis[k]; seen {
		return 0, fmt.Errorf("session: logout: %w", ErrReplay)
	}
	m.jtis[k] = stamp(lo.JTIUntil)
	lo.At, lo.Until = stamp(lo.At), stamp(lo.Until)
	m.logouts = append(m.logouts, lo)
	var gone []cookie.Hash
	for h, e := range m.byHash {
		s := e.s
		if loggedOut(s, lo) {
			gone = append(gone, h)
		}
	}
	for _, h := range gone {
		m.remove(h)
	}
	return len(gone), nil
}

// Logouts implements the Postgres method of the same name in memory.
func (m *Memory) Logouts(ctx context.Context, now time.Time) ([]Logout, error) {
	if err := unavailable(ctx, "logouts"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Logout
	for _, lo := range m.logouts {
		if lo.Until.After(now) {
			out = append(out, lo)
		}
	}
	return out, nil
}

// DeleteExpiredLogouts implements the Postgres method of the same name in
// memory.
func (m *Memory) DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error) {
	if err := unavailable(ctx, "delete expired logouts"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	kept := m.logouts[:0]
	for _, lo := range m.logouts {
		if lo.Until.After(before) {
			kept = append(kept, lo)
		} else {
			n++
		}
	}
	m.logouts = kept
	for k, until := range m.jtis {
		if !until.After(before) {
			delete(m.jtis, k)
			n++
		}
	}
	return n, nil
}

// loggedOut reports whether lo revokes s (see revokeLoggedOut).
func loggedOut(s authz.Session, lo Logout) bool {
	switch {
	case s.Issuer != lo.Issuer:
		return false
	case lo.SID == "":
		return s.Subject != "" && s.Subject == lo.Subject
	case s.SID == lo.SID:
		return true
	}
	return s.SID == "" && s.Subject != "" && s.Subject == lo.Subject
}
