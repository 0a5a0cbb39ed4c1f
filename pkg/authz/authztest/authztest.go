// Package authztest holds in-memory stores for tests of code built on
// pkg/authz: plain maps with error injection and a record of what they
// handed out or were asked, so tests can check both the decision and its
// effects. They are fakes for unit tests; the real in-memory stores with
// PostgreSQL's semantics are pkg/profile, pkg/session and pkg/token.
package authztest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Profiles is an authz.ProfileSource over a map.
type Profiles struct {
	mu sync.Mutex
	// ByEmail holds the profiles by normalised email.
	ByEmail map[string]authz.Profile
	// Err, when set, fails every call; Errs fails calls for one email.
	Err  error
	Errs map[string]error
	// IDPrefix names registered profiles IDPrefix+"1", +"2"… ("new-").
	IDPrefix string

	registered int
	returned   map[string]bool
	// RegisterErr, when set, fails every RegisterProfile (lookups unaffected).
	RegisterErr error
}

// NewProfiles returns a source holding ps.
func NewProfiles(ps ...authz.Profile) *Profiles {
	f := &Profiles{ByEmail: map[string]authz.Profile{}, Errs: map[string]error{}, IDPrefix: "new-", returned: map[string]bool{}}
	for _, p := range ps {
		f.ByEmail[p.Email] = p
	}
	return f
}

func (f *Profiles) fail(email string) error {
	if f.Err != nil {
		return f.Err
	}
	return f.Errs[email]
}

// LookupProfile implements authz.ProfileSource.
func (f *Profiles) LookupProfile(_ context.Context, email string) (authz.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(email); err != nil {
		return authz.Profile{}, err
	}
	p, ok := f.ByEmail[email]
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: %w", authz.ErrNotFound)
	}
	f.returned[p.ID] = true
	return p, nil
}

// RegisterProfile implements authz.ProfileSource.
func (f *Profiles) RegisterProfile(_ context.Context, email, name, app string) (authz.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(email); err != nil {
		return authz.Profile{}, err
	}
	if f.RegisterErr != nil {
		return authz.Profile{}, f.RegisterErr
	}
	p, ok := f.ByEmail[email]
	if !ok {
		f.registered++
		p = authz.Profile{ID: f.IDPrefix + strconv.Itoa(f.registered), Email: email, Name: name, Active: true, RegisteredBy: app}
		f.ByEmail[email] = p
	}
	f.returned[p.ID] = true
	return p, nil
}

// Get returns the stored profile of email.
func (f *Profiles) Get(email string) authz.Profile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ByEmail[email]
}

// Returned reports whether the source ever handed out profile id.
func (f *Profiles) Returned(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returned[id]
}

// Sessions is an authz.SessionStore over a map.
type Sessions struct {
	mu sync.Mutex
	// Rows holds the sessions by token hash.
	Rows map[cookie.Hash]authz.Session
	// Err, when set, fails every call; WriteErr fails writes only.
	Err      error
	WriteErr error
	// Calls records the operations asked, in order: get, replace, delete,
	// renew, bind, revoke.
	Calls []string
}

// NewSessions returns a store holding ss.
func NewSessions(ss ...authz.Session) *Sessions {
	f := &Sessions{Rows: map[cookie.Hash]authz.Session{}}
	for _, s := range ss {
		f.Rows[s.Hash] = s
	}
	return f
}

func (f *Sessions) call(op string, write bool) error {
	f.Calls = append(f.Calls, op)
	if f.Err != nil {
		return f.Err
	}
	if write {
		return f.WriteErr
	}
	return nil
}

// GetSession implements authz.SessionStore.
func (f *Sessions) GetSession(_ context.Context, h cookie.Hash) (authz.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("get", false); err != nil {
		return authz.Session{}, err
	}
	s, ok := f.Rows[h]
	if !ok {
		return authz.Session{}, fmt.Errorf("session: %w", authz.ErrNotFound)
	}
	return s, nil
}

// ReplaceSession implements authz.SessionStore.
func (f *Sessions) ReplaceSession(_ context.Context, old cookie.Hash, next authz.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("replace", true); err != nil {
		return err
	}
	if !old.IsZero() {
		delete(f.Rows, old)
	}
	f.Rows[next.Hash] = next
	return nil
}

// DeleteSession implements authz.SessionStore.
func (f *Sessions) DeleteSession(_ context.Context, h cookie.Hash) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete", true); err != nil {
		return err
	}
	delete(f.Rows, h)
	return nil
}

// RevokeByProfile implements authz.ProfileRevoker.
func (f *Sessions) RevokeByProfile(_ context.Context, profileID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("revoke", true); err != nil {
		return 0, err
	}
	n := 0
	for h, s := range f.Rows {
		if s.ProfileID == profileID {
			delete(f.Rows, h)
			n++
		}
	}
	return n, nil
}

// RenewSession implements authz.SessionStore.
func (f *Sessions) RenewSession(_ context.Context, h cookie.Hash, renewedAt, expiresAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("renew", true); err != nil {
		return err
	}
	s, ok := f.Rows[h]
	if !ok {
		return fmt.Errorf("session: %w", authz.ErrNotFound)
	}
	s.RenewedAt, s.ExpiresAt = renewedAt, expiresAt
	f.Rows[h] = s
	return nil
}

// BindSession implements authz.SessionStore.
func (f *Sessions) BindSession(_ context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("bind", true); err != nil {
		return err
	}
	s, ok := f.Rows[h]
	if !ok || !s.Live(at) {
		return fmt.Errorf("session: %w", authz.ErrNotFound)
	}
	if app != s.App && !slices.Contains(s.Apps, app) {
		s.Apps = append(slices.Clone(s.Apps), app)
	}
	s.Stale = append(slices.Clone(s.Stale), stale...)
	f.Rows[h] = s
	return nil
}

// Has reports whether a row for h exists.
func (f *Sessions) Has(h cookie.Hash) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.Rows[h]
	return ok
}

// Row returns the row for h.
func (f *Sessions) Row(h cookie.Hash) (authz.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.Rows[h]
	return s, ok
}

// Tokens is an authz.AccessTokenStore over a map.
type Tokens struct {
	mu sync.Mutex
	// ByHash holds the tokens by the SHA-256 of their text.
	ByHash map[cookie.Hash]authz.AccessToken
	// Err, when set, fails every call.
	Err error

	returned map[string]bool
}

// NewTokens returns a store holding the tokens keyed by their plain text.
func NewTokens(byPlain map[string]authz.AccessToken) *Tokens {
	f := &Tokens{ByHash: map[cookie.Hash]authz.AccessToken{}, returned: map[string]bool{}}
	for plain, t := range byPlain {
		f.Add(plain, t)
	}
	return f
}

// Add stores t under the hash of plain.
func (f *Tokens) Add(plain string, t authz.AccessToken) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Hash = cookie.HashString(plain)
	f.ByHash[t.Hash] = t
}

// LookupAccessToken implements authz.AccessTokenStore.
func (f *Tokens) LookupAccessToken(_ context.Context, h cookie.Hash) (authz.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return authz.AccessToken{}, f.Err
	}
	t, ok := f.ByHash[h]
	if !ok {
		return authz.AccessToken{}, fmt.Errorf("token: %w", authz.ErrNotFound)
	}
	f.returned[t.ProfileID] = true
	return t, nil
}

// Returned reports whether the store ever handed out a token of profile id.
func (f *Tokens) Returned(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returned[id]
}
