package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/admin"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/metrics"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	"github.com/extauthz/extauthz/pkg/store/pgpool"
	"github.com/extauthz/extauthz/pkg/token"
)

// profileStore is what the binary needs of a profile store: decisions and
// the operator's verbs.
type profileStore interface {
	authz.ProfileSource
	admin.ProfileStore
}

// sessionStore adds the operator's verbs and garbage collection.
type sessionStore interface {
	authz.SessionStore
	admin.SessionStore
	DeleteExpired(ctx context.Context, before time.Time, batch int) (int, error)
	logoutStore // identity.go
}

// tokenStore adds issuing and revoking access tokens.
type tokenStore interface {
	authz.AccessTokenStore
	admin.TokenStore
}

// Stores are the built-in stores of one process: all on PostgreSQL, or all
// in memory when no database is configured.
type Stores struct {
	pool     *pgxpool.Pool // nil in memory
	profiles profileStore
	sessions sessionStore
	tokens   tokenStore
}

// Close closes the pool, if any.
func (s *Stores) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// memoryStoreLimit bounds the in-memory session store.
const memoryStoreLimit = 100_000

// openMemory returns in-memory stores seeded from the configuration.
func openMemory(cfg config.Config) (*Stores, error) {
	seed := make([]authz.Profile, 0, len(cfg.SeedProfiles))
	for _, p := range cfg.SeedProfiles {
		seed = append(seed, authz.Profile{Email: p.Email, Name: p.Name, Active: p.Active, Blocked: p.Blocked})
	}
	profiles, err := profile.NewMemory(time.Now, seed)
	if err != nil {
		return nil, fmt.Errorf("seeding profiles: %w", err)
	}
	return &Stores{
		profiles: profiles,
		sessions: session.NewMemory(memoryStoreLimit).WithLimitPerProfile(cfg.MaxSessionsPerProfile),
		tokens:   token.NewMemory(profiles.ByID),
	}, nil
}

// openPostgres connects to the database and, when migrate is set, applies
// pending migrations first. The pool connects lazily: serve warms it
// (pgpool.Warm) before it reports ready.
func openPostgres(ctx context.Context, o pgpool.Options, perProfile int, migrate bool, log *slog.Logger) (*Stores, error) {
	pool, err := pgpool.Open(ctx, o)
	if errors.Is(err, pgpool.ErrBadURL) {
		return nil, fmt.Errorf("database_url: %w", err) // the URL may hold a password: never echo it
	}
	if err != nil {
		return nil, err
	}
	if migrate {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := migrations.Migrate(mctx, pool); err != nil {
			pool.Close()
			return nil, fmt.Errorf("migrating: %w", err)
		}
		log.Info("migrations applied", "version", migrations.Expected())
	}
	return &Stores{
		pool:     pool,
		profiles: profile.NewPostgres(pool),
		sessions: session.NewPostgres(pool).WithLimitPerProfile(perProfile),
		tokens:   token.NewPostgres(pool),
	}, nil
}

// openStores opens what cfg asks for.
func openStores(ctx context.Context, cfg config.Config, log *slog.Logger) (*Stores, error) {
	if cfg.DatabaseURL == "" {
		return openMemory(cfg)
	}
	return openPostgres(ctx, poolOptions(cfg), cfg.MaxSessionsPerProfile, cfg.Migrate, log)
}

// poolOptions are the pool settings of serve. A query whose deadline passed
// is cancelled on the server and may take half the gap between
// lookup_timeout and Envoy's timeout to return, so that the service still
// answers 503 before Envoy gives up; after that its connection is closed.
func poolOptions(cfg config.Config) pgpool.Options {
	return pgpool.Options{
		URL:         cfg.DatabaseURL,
		MaxConns:    cfg.DatabaseMaxConns,
		MinConns:    cfg.DatabaseMinConns,
		CancelGrace: max((cfg.EnvoyTimeout-cfg.LookupTimeout)/2, 5*time.Millisecond),
	}
}

// OpenOperator opens the PostgreSQL stores of cfg.DatabaseURL, which must
// be set, for an operator command: a small pool, no migrations.
func OpenOperator(ctx context.Context, cfg config.Config, log *slog.Logger) (*Stores, error) {
	return openPostgres(ctx, pgpool.Options{URL: cfg.DatabaseURL, MaxConns: 2}, cfg.MaxSessionsPerProfile, false, log)
}

// Admin returns the operator's rules over the stores.
func (s *Stores) Admin() *admin.Service {
	return admin.NewService(s.profiles, s.sessions, s.tokens)
}

// Migrate applies pending migrations and returns the schema version.
func (s *Stores) Migrate(ctx context.Context) (int, error) {
	if err := migrations.Migrate(ctx, s.pool); err != nil {
		return 0, err
	}
	v, err := migrations.Version(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("reading version: %w", err)
	}
	return v, nil
}

// storeLabels are the store labels of this configuration, whose error
// series exist from the start: the built-in stores, and app_sql when an
// app reads its own database.
func storeLabels(cfg config.Config, apps []string) []string {
	out := []string{metrics.StoreProfiles, metrics.StoreSessions, metrics.StoreTokens}
	for _, a := range apps {
		if cfg.AppSource(a).Kind == config.SourceSQL {
			return append(out, metrics.StoreAppSQL)
		}
	}
	return out
}

// poolStats reads pool's figures for the extauthz_db_pool_… series.
func poolStats(pool *pgxpool.Pool) func() metrics.PoolStats {
	return func() metrics.PoolStats {
		s := pool.Stat()
		return metrics.PoolStats{
			Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Constructing: s.ConstructingConns(),
			Total: s.TotalConns(), Max: s.MaxConns(),
			Acquires: s.AcquireCount(), CanceledAcquires: s.CanceledAcquireCount(),
			EmptyAcquires: s.EmptyAcquireCount(), NewConns: s.NewConnsCount(),
			AcquireDuration: s.AcquireDuration(), EmptyAcquireWait: s.EmptyAcquireWaitTime(),
		}
	}
}
