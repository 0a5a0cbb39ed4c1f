package profile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// SQLConfig describes an app's own profile table, reached with queries the
// operator writes.
type SQLConfig struct {
	// DatabaseURL is the app's database.
	DatabaseURL string
	// Query returns (id text, is_active bool, is_blocked bool) for the
	// normalised email $1; no row means no profile. It is sent as a
	// parameterised statement: the email is never spliced into SQL, and an
	// exact "=" match is the operator's to write (never LIKE, where "%" and
	// "_" in an address would be wildcards).
	Query string
	// RegisterQuery, optional, creates a profile for email $1 (and name $2
	// if it uses $2) and returns the same three columns, or no row when one
	// already exists (ON CONFLICT DO NOTHING), after which Query is re-run.
	RegisterQuery string
	// MaxConns bounds the pool (default 4).
	MaxConns int
	// Timeout bounds one query (default 100 ms).
	Timeout time.Duration
}

// SQL is a profile source over an app's own database.
type SQL struct {
	pool          *pgxpool.Pool
	query         string
	register      string
	registerNamed bool
	timeout       time.Duration
}

var _ authz.ProfileSource = (*SQL)(nil)

// ErrNoRegisterQuery is returned by RegisterProfile when the source has no
// register query: auto-registration is not possible there.
var ErrNoRegisterQuery = errors.New("profile: sql source has no register_query")

// NewSQL opens the pool lazily: the app's database being down at start is a
// transient condition like any other, not a reason to refuse to serve.
func NewSQL(cfg SQLConfig) (*SQL, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("profile: sql source: database_url cannot be parsed") // never echo a URL
	}
	pcfg.MaxConns = 4
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = int32(cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("profile: sql source: %w", err)
	}
	s := &SQL{pool: pool, query: cfg.Query, register: cfg.RegisterQuery, timeout: cfg.Timeout}
	s.registerNamed = strings.Contains(cfg.RegisterQuery, "$2")
	if s.timeout <= 0 {
		s.timeout = 100 * time.Millisecond
	}
	return s, nil
}

// Close closes the pool.
func (s *SQL) Close() { s.pool.Close() }

// Ping checks the app's database (for readiness details).
func (s *SQL) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func (s *SQL) scan(row pgx.Row, email string) (authz.Profile, error) {
	p := authz.Profile{Email: email}
	if err := row.Scan(&p.ID, &p.Active, &p.Blocked); err != nil {
		return authz.Profile{}, err
	}
	if p.ID == "" {
		return authz.Profile{}, errors.New("profile query returned an empty id")
	}
	return p, nil
}

// LookupProfile implements authz.ProfileSource.
func (s *SQL) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p, err := s.scan(s.pool.QueryRow(ctx, s.query, email), email)
	if err != nil {
		return authz.Profile{}, pgerr.Wrap("profile: sql lookup", err)
	}
	return p, nil
}

// RegisterProfile implements authz.ProfileSource with the register query.
// The app's own database is the app's business: nothing records which app
// registered a profile there (RegisteredBy stays ""), so every app whose
// query finds the row knows it. Apps that must not admit each other's
// registrations read different tables, or filter in their query.
func (s *SQL) RegisterProfile(ctx context.Context, email, name, _ string) (authz.Profile, error) {
	if s.register == "" {
		return authz.Profile{}, ErrNoRegisterQuery
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	args := []any{email}
	if s.registerNamed {
		args = append(args, name)
	}
	p, err := s.scan(s.pool.QueryRow(rctx, s.register, args...), email)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, pgx.ErrNoRows):
		// Someone else registered it first: resolve the winner.
		return s.LookupProfile(ctx, email)
	}
	return authz.Profile{}, pgerr.Wrap("profile: sql register", err)
}
