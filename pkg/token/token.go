package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Prefix starts every access token, so that leaked ones are easy to find in
// logs and code (secret scanners match it).
const Prefix = "xat_"

// New returns a fresh access token: Prefix and 256 random bits.
func New() (string, error) { return newFrom(rand.Reader) }

func newFrom(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("token: reading random bytes: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Issued is a token at creation: the only time its text exists.
type Issued struct {
	Token string
	authz.AccessToken
}

// Memory is an in-memory token store over a profile lookup.
type Memory struct {
	mu       sync.RWMutex
	rows     map[cookie.Hash]authz.AccessToken
	profiles func(ctx context.Context, id string) (authz.Profile, error)
	now      func() time.Time
}

// NewMemory returns an empty store; byID resolves a token's owner at lookup.
func NewMemory(byID func(ctx context.Context, id string) (authz.Profile, error)) *Memory {
	return &Memory{rows: map[cookie.Hash]authz.AccessToken{}, profiles: byID, now: time.Now}
}

// Create issues a token for profileID; a zero expires never expires.
func (m *Memory) Create(ctx context.Context, profileID, name string, expires time.Time) (Issued, error) {
	p, err := m.profiles(ctx, profileID)
	if err != nil {
		return Issued{}, fmt.Errorf("token: create: %w", err)
	}
	tok, err := New()
	if err != nil {
		return Issued{}, err
	}
	at := authz.AccessToken{
		Hash: cookie.HashString(tok), ProfileID: p.ID, Name: name,
		CreatedAt: m.now().UTC().Truncate(time.Microsecond), ExpiresAt: expires, Profile: p,
	}
	m.mu.Lock()
	m.rows[at.Hash] = at
	m.mu.Unlock()
	return Issued{Token: tok, AccessToken: at}, nil
}

// LookupAccessToken implements authz.AccessTokenStore.
func (m *Memory) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	m.mu.RLock()
	at, ok := m.rows[h]
	m.mu.RUnlock()
	if !ok {
		return authz.AccessToken{}, fmt.Errorf("token: lookup: %w", authz.ErrNotFound)
	}
	p, err := m.profiles(ctx, at.ProfileID)
	if err != nil {
		return authz.AccessToken{}, fmt.Errorf("token: lookup owner: %w", err)
	}
	at.Profile = p
	return at, nil
}

// Revoke marks the token whose text is tok revoked.
func (m *Memory) Revoke(_ context.Context, tok string) error {
	h := cookie.HashString(tok)
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.rows[h]
	if !ok || at.Revoked {
		return fmt.Errorf("token: revoke: %w", authz.ErrNotFound)
	}
	at.Revoked = true
	m.rows[h] = at
	return nil
}

// List returns the tokens of a profile, newest first.
func (m *Memory) List(_ context.Context, profileID string) ([]authz.AccessToken, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []authz.AccessToken
	for _, at := range m.rows {
		if at.ProfileID == profileID {
			out = append(out, at)
		}
	}
	sortNewest(out)
	return out, nil
}
