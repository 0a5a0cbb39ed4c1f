package authz_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// fakeProfiles is an in-test ProfileSource: a map plus an optional error to
// inject. It counts lookups so tests can see what hit the "database".
type fakeProfiles struct {
	mu      sync.Mutex
	byEmail map[string]authz.Profile
	err     error // returned by every call when set
	nextID  int
	lookups int
}

func newProfiles(ps ...authz.Profile) *fakeProfiles {
	f := &fakeProfiles{byEmail: map[string]authz.Profile{}}
	for _, p := range ps {
		f.byEmail[p.Email] = p
	}
	return f
}

func (f *fakeProfiles) LookupProfile(_ context.Context, email string) (authz.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return authz.Profile{}, f.err
	}
	p, ok := f.byEmail[email]
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile %s: %w", email, authz.ErrNotFound)
	}
	return p, nil
}

func (f *fakeProfiles) RegisterProfile(_ context.Context, email, name string) (authz.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return authz.Profile{}, f.err
	}
	if p, ok := f.byEmail[email]; ok {
		return p, nil
	}
	f.nextID++
	p := authz.Profile{ID: fmt.Sprintf("new-%d", f.nextID), Email: email, Name: name, Active: true}
	f.byEmail[email] = p
	return p, nil
}

// fakeSessions is an in-test SessionStore.
type fakeSessions struct {
	mu   sync.Mutex
	rows map[cookie.Hash]authz.Session
	err  error // returned by every call when set
	// writeErr is returned by writes only.
	writeErr error
	calls    []string
}

func newSessions() *fakeSessions { return &fakeSessions{rows: map[cookie.Hash]authz.Session{}} }

func (f *fakeSessions) GetSession(_ context.Context, h cookie.Hash) (authz.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "get")
	if f.err != nil {
		return authz.Session{}, f.err
	}
	s, ok := f.rows[h]
	if !ok {
		return authz.Session{}, authz.ErrNotFound
	}
	return s, nil
}

func (f *fakeSessions) ReplaceSession(_ context.Context, old cookie.Hash, next authz.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "replace")
	if f.err != nil {
		return f.err
	}
	if f.writeErr != nil {
		return f.writeErr
	}
	if !old.IsZero() {
		delete(f.rows, old)
	}
	f.rows[next.Hash] = next
	return nil
}

func (f *fakeSessions) DeleteSession(_ context.Context, h cookie.Hash) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete")
	if f.err != nil {
		return f.err
	}
	if f.writeErr != nil {
		return f.writeErr
	}
	delete(f.rows, h)
	return nil
}

func (f *fakeSessions) RenewSession(_ context.Context, h cookie.Hash, renewed, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "renew")
	if f.err != nil {
		return f.err
	}
	if f.writeErr != nil {
		return f.writeErr
	}
	s, ok := f.rows[h]
	if !ok {
		return authz.ErrNotFound
	}
	s.RenewedAt, s.ExpiresAt = renewed, expires
	f.rows[h] = s
	return nil
}

func (f *fakeSessions) has(tok cookie.Token) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.rows[tok.Hash()]
	return ok
}

// fakeTokens is an in-test AccessTokenStore.
type fakeTokens struct {
	rows map[cookie.Hash]authz.AccessToken
	err  error
}

func (f *fakeTokens) LookupAccessToken(_ context.Context, h cookie.Hash) (authz.AccessToken, error) {
	if f.err != nil {
		return authz.AccessToken{}, f.err
	}
	t, ok := f.rows[h]
	if !ok {
		return authz.AccessToken{}, authz.ErrNotFound
	}
	return t, nil
}

// seqTokens mints predictable, well-formed tokens.
type seqTokens struct {
	mu sync.Mutex
	n  int
}

func (s *seqTokens) next() (cookie.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return testToken(s.n), nil
}

// testToken returns the n-th well-formed test token.
func testToken(n int) cookie.Token {
	body := fmt.Sprintf("%042d", n)
	body = strings.ReplaceAll(body, "0", "A") + "A"
	tok, err := cookie.ParseToken(cookie.TokenPrefix + body)
	if err != nil {
		panic(err)
	}
	return tok
}

func hashOf(s string) cookie.Hash { return cookie.HashString(s) }
