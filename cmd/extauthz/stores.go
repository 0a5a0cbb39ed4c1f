package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	"github.com/extauthz/extauthz/pkg/token"
)

// profileStore is what the binary needs of a profile store beyond decisions:
// the operator's verbs.
type profileStore interface {
	authz.ProfileSource
	ByID(ctx context.Context, id string) (authz.Profile, error)
	AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error)
	SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error)
	SetActive(ctx context.Context, email string, active bool) (authz.Profile, error)
	Delete(ctx context.Context, email string) error
	List(ctx context.Context) ([]authz.Profile, error)
}

// sessionStore adds the operator's verbs and garbage collection.
type sessionStore interface {
	authz.SessionStore
	ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error)
	RevokeByProfile(ctx context.Context, profileID string) (int, error)
	DeleteExpired(ctx context.Context, before time.Time, batch int) (int, error)
}

// tokenStore adds issuing and revoking access tokens.
type tokenStore interface {
	authz.AccessTokenStore
	Create(ctx context.Context, profileID, name string, expires time.Time) (token.Issued, error)
	Revoke(ctx context.Context, tok string) error
	List(ctx context.Context, profileID string) ([]authz.AccessToken, error)
}

// stores are the built-in stores of one process: all on PostgreSQL, or all
// in memory when no database is configured.
type stores struct {
	pool     *pgxpool.Pool // nil in memory
	profiles profileStore
	sessions sessionStore
	tokens   tokenStore
}

func (s *stores) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// memoryStoreLimit bounds the in-memory session store.
const memoryStoreLimit = 100_000

// openMemory returns in-memory stores seeded from the configuration.
func openMemory(cfg config.Config) (*stores, error) {
	seed := make([]authz.Profile, 0, len(cfg.SeedProfiles))
	for _, p := range cfg.SeedProfiles {
		seed = append(seed, authz.Profile{Email: p.Email, Name: p.Name, Active: p.Active, Blocked: p.Blocked})
	}
	profiles, err := profile.NewMemory(time.Now, seed)
	if err != nil {
		return nil, fmt.Errorf("seeding profiles: %w", err)
	}
	return &stores{
		profiles: profiles,
		sessions: session.NewMemory(memoryStoreLimit),
		tokens:   token.NewMemory(profiles.ByID),
	}, nil
}

// openPostgres connects to the database and, when migrate is set, applies
// pending migrations first.
func openPostgres(ctx context.Context, url string, maxConns int, migrate bool, log *slog.Logger) (*stores, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database_url: %w", errors.New("cannot be parsed")) // the URL may hold a password: never echo it
	}
	if maxConns > 0 {
		pcfg.MaxConns = int32(maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
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
	return &stores{
		pool:     pool,
		profiles: profile.NewPostgres(pool),
		sessions: session.NewPostgres(pool),
		tokens:   token.NewPostgres(pool),
	}, nil
}

// openStores opens what cfg asks for.
func openStores(ctx context.Context, cfg config.Config, log *slog.Logger) (*stores, error) {
	if cfg.DatabaseURL == "" {
		return openMemory(cfg)
	}
	return openPostgres(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns, cfg.Migrate, log)
}

// requireDatabase opens PostgreSQL stores for an operator command.
func requireDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*stores, error) {
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("%w: --database-url (or EXTAUTHZ_DATABASE_URL) is required: the in-memory store of `serve` keeps nothing between processes", errUsage)
	}
	return openPostgres(ctx, cfg.DatabaseURL, 2, false, log)
}
