package metrics

import (
	"context"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Store kinds, for the store label.
const (
	StoreProfiles = "profiles"
	StoreSessions = "sessions"
	StoreTokens   = "tokens"
	// StoreAppSQL is every app's own database (profile source kind sql).
	StoreAppSQL = "app_sql"
)

// Profiles measures a ProfileSource.
type Profiles struct {
	Next  authz.ProfileSource
	M     *Metrics
	Store string // label; StoreProfiles unless an app's own source
}

// LookupProfile implements authz.ProfileSource.
func (p Profiles) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	start := time.Now()
	prof, err := p.Next.LookupProfile(ctx, email)
	p.M.ObserveStore(p.Store, "lookup", time.Since(start), err)
	return prof, err
}

// RegisterProfile implements authz.ProfileSource.
func (p Profiles) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	start := time.Now()
	prof, err := p.Next.RegisterProfile(ctx, email, name, app)
	p.M.ObserveStore(p.Store, "register", time.Since(start), err)
	return prof, err
}

// Sessions measures a SessionStore.
type Sessions struct {
	Next authz.SessionStore
	M    *Metrics
}

// GetSession implements authz.SessionStore.
func (s Sessions) GetSession(ctx context.Context, h cookie.Hash) (authz.Session, error) {
	start := time.Now()
	sess, err := s.Next.GetSession(ctx, h)
	s.M.ObserveStore(StoreSessions, "get", time.Since(start), err)
	return sess, err
}

// ReplaceSession implements authz.SessionStore.
func (s Sessions) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	start := time.Now()
	err := s.Next.ReplaceSession(ctx, old, next)
	s.M.ObserveStore(StoreSessions, "replace", time.Since(start), err)
	return err
}

// DeleteSession implements authz.SessionStore.
func (s Sessions) DeleteSession(ctx context.Context, h cookie.Hash) error {
	start := time.Now()
	err := s.Next.DeleteSession(ctx, h)
	s.M.ObserveStore(StoreSessions, "delete", time.Since(start), err)
	return err
}

// RenewSession implements authz.SessionStore.
func (s Sessions) RenewSession(ctx context.Context, h cookie.Hash, renewed, expires time.Time) error {
	start := time.Now()
	err := s.Next.RenewSession(ctx, h, renewed, expires)
	s.M.ObserveStore(StoreSessions, "renew", time.Since(start), err)
	return err
}

// BindSession implements authz.SessionStore.
func (s Sessions) BindSession(ctx context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	start := time.Now()
	err := s.Next.BindSession(ctx, h, app, stale, at)
	s.M.ObserveStore(StoreSessions, "bind", time.Since(start), err)
	return err
}

// Tokens measures an AccessTokenStore.
type Tokens struct {
	Next authz.AccessTokenStore
	M    *Metrics
}

// LookupAccessToken implements authz.AccessTokenStore.
func (t Tokens) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	start := time.Now()
	at, err := t.Next.LookupAccessToken(ctx, h)
	t.M.ObserveStore(StoreTokens, "lookup", time.Since(start), err)
	return at, err
}
