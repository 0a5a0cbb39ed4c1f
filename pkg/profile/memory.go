package profile

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Memory is an in-process profile source with the semantics of Postgres,
// for running without a database (nothing persists). It is safe for
// concurrent use.
type Memory struct {
	now func() time.Time

	mu      sync.RWMutex
	byEmail map[string]*authz.Profile
	byID    map[string]*authz.Profile
}

var _ authz.ProfileSource = (*Memory)(nil)

// NewMemory returns a memory source holding seed. A seed profile without an
// ID gets a random one; Modified defaults to now. now is the clock for
// Modified (nil: time.Now). It fails, wrapping ErrInvalid, on an empty
// email, a malformed id, or a duplicate email or id.
func NewMemory(now func() time.Time, seed []authz.Profile) (*Memory, error) {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, byEmail: map[string]*authz.Profile{}, byID: map[string]*authz.Profile{}}
	for i, p := range seed {
		if p.Email == "" {
			return nil, fmt.Errorf("profile: seed %d: empty email: %w", i, ErrInvalid)
		}
		if p.ID == "" {
			p.ID = newID()
		}
		id, ok := canonicalID(p.ID)
		if !ok {
			return nil, fmt.Errorf("profile: seed %d: id %q is not a UUID: %w", i, p.ID, ErrInvalid)
		}
		p.ID = id
		if _, dup := m.byEmail[p.Email]; dup {
			return nil, fmt.Errorf("profile: seed %d: duplicate email: %w", i, ErrInvalid)
		}
		if _, dup := m.byID[p.ID]; dup {
			return nil, fmt.Errorf("profile: seed %d: duplicate id %s: %w", i, p.ID, ErrInvalid)
		}
		if p.Modified.IsZero() {
			p.Modified = now()
		}
		p.Modified = stamp(p.Modified)
		m.insert(&p)
	}
	return m, nil
}

// insert stores p, with copies of its strings: a caller's string may be a
// view of a whole request (the gRPC wire path), which the store must not
// keep alive.
func (m *Memory) insert(p *authz.Profile) {
	p.ID, p.Email, p.Name = strings.Clone(p.ID), strings.Clone(p.Email), strings.Clone(p.Name)
	p.RegisteredBy = strings.Clone(p.RegisteredBy)
	m.byEmail[p.Email] = p
	m.byID[p.ID] = p
}

// newID returns a random (version 4) UUID.
func newID() string {
	var u pgtype.UUID
	_, _ = rand.Read(u.Bytes[:]) // never fails (crypto/rand)
	u.Bytes[6] = u.Bytes[6]&0x0f | 0x40
	u.Bytes[8] = u.Bytes[8]&0x3f | 0x80
	u.Valid = true
	return u.String()
}

// LookupProfile implements authz.ProfileSource.
func (m *Memory) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("profile: lookup: %w: %w", authz.ErrUnavailable, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.byEmail[email]
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: lookup: %w", authz.ErrNotFound)
	}
	return *p, nil
}

// ByID returns the profile with id.
func (m *Memory) ByID(ctx context.Context, id string) (authz.Profile, error) {
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("profile: by id: %w: %w", authz.ErrUnavailable, err)
	}
	cid, _ := canonicalID(id)
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.byID[cid]
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: by id: %w", authz.ErrNotFound)
	}
	return *p, nil
}

// RegisterProfile implements authz.ProfileSource.
func (m *Memory) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: register: empty email: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("profile: register: %w: %w", authz.ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.byEmail[email]; ok {
		return *p, nil
	}
	p := &authz.Profile{ID: newID(), Email: email, Name: name, Active: true, RegisteredBy: app, Modified: stamp(m.now())}
	m.insert(p)
	return *p, nil
}

// AddProfile creates a profile, failing with ErrExists if the email is
// taken by a profile an operator added or by a deleted one. A live profile
// an app auto-registered is adopted instead: it keeps its id and takes
// the given flags (and name, when given), and every app knows it.
func (m *Memory) AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: add: empty email: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("profile: add: %w: %w", authz.ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.byEmail[email]; ok {
		if p.RegisteredBy == "" || p.Deleted {
			return authz.Profile{}, fmt.Errorf("profile: add: %w", ErrExists)
		}
		p.RegisteredBy, p.Active, p.Blocked, p.Modified = "", active, blocked, stamp(m.now())
		if name != "" {
			p.Name = strings.Clone(name)
		}
		return *p, nil
	}
	p := &authz.Profile{ID: newID(), Email: email, Name: name, Active: active, Blocked: blocked, Modified: stamp(m.now())}
	m.insert(p)
	return *p, nil
}

// SetBlocked blocks or unblocks the profile with email.
func (m *Memory) SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error) {
	return m.update(ctx, "profile: set blocked", email, func(p *authz.Profile) { p.Blocked = blocked })
}

// SetActive activates or deactivates the profile with email. Activating
// adopts an auto-registered profile (see AddProfile).
func (m *Memory) SetActive(ctx context.Context, email string, active bool) (authz.Profile, error) {
	return m.update(ctx, "profile: set active", email, func(p *authz.Profile) {
		p.Active = active
		if active {
			p.RegisteredBy = ""
		}
	})
}

// Delete soft-deletes the profile with email.
func (m *Memory) Delete(ctx context.Context, email string) error {
	_, err := m.update(ctx, "profile: delete", email, func(p *authz.Profile) { p.Deleted = true })
	return err
}

func (m *Memory) update(ctx context.Context, op, email string, change func(*authz.Profile)) (authz.Profile, error) {
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("%s: %w: %w", op, authz.ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byEmail[email]
	if !ok {
		return authz.Profile{}, fmt.Errorf("%s: %w", op, authz.ErrNotFound)
	}
	change(p)
	p.Modified = stamp(m.now())
	return *p, nil
}

// SetEmail changes the email of the profile id, failing with ErrExists if
// the new email is taken.
func (m *Memory) SetEmail(ctx context.Context, id, email string) (authz.Profile, error) {
	if email == "" {
		return authz.Profile{}, fmt.Errorf("profile: set email: empty email: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, fmt.Errorf("profile: set email: %w: %w", authz.ErrUnavailable, err)
	}
	cid, _ := canonicalID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[cid]
	if !ok {
		return authz.Profile{}, fmt.Errorf("profile: set email: %w", authz.ErrNotFound)
	}
	if other, taken := m.byEmail[email]; taken && other != p {
		return authz.Profile{}, fmt.Errorf("profile: set email: %w", ErrExists)
	}
	delete(m.byEmail, p.Email)
	p.Email = strings.Clone(email)
	p.Modified = stamp(m.now())
	m.byEmail[p.Email] = p
	return *p, nil
}

// List returns every profile, deleted ones included, ordered by email.
func (m *Memory) List(ctx context.Context) ([]authz.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("profile: list: %w: %w", authz.ErrUnavailable, err)
	}
	m.mu.RLock()
	ps := make([]authz.Profile, 0, len(m.byEmail))
	for _, p := range m.byEmail {
		ps = append(ps, *p)
	}
	m.mu.RUnlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].Email < ps[j].Email })
	return ps, nil
}
