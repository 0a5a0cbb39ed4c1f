package session

import (
	"container/heap"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Memory is an in-process session store with the semantics of Postgres. It
// is safe for concurrent use.
type Memory struct {
	limit int

	mu        sync.Mutex
	byHash    map[cookie.Hash]*entry
	byProfile map[string]map[cookie.Hash]*entry
	expiry    expiryHeap // every entry, soonest expires_at first
}

var _ authz.SessionStore = (*Memory)(nil)

type entry struct {
	s     authz.Session
	index int // in expiry
}

// NewMemory returns an empty store holding at most limit sessions (<= 0:
// unbounded; see the package documentation for what happens at the limit).
func NewMemory(limit int) *Memory {
	return &Memory{
		limit:     limit,
		byHash:    map[cookie.Hash]*entry{},
		byProfile: map[string]map[cookie.Hash]*entry{},
	}
}

// Len returns the number of stored sessions, expired ones included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

func unavailable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("session: %s: %w: %w", op, authz.ErrUnavailable, err)
	}
	return nil
}

// GetSession implements authz.SessionStore.
func (m *Memory) GetSession(ctx context.Context, hash cookie.Hash) (authz.Session, error) {
	if err := unavailable(ctx, "get"); err != nil {
		return authz.Session{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byHash[hash]
	if !ok {
		return authz.Session{}, fmt.Errorf("session: get: %w", authz.ErrNotFound)
	}
	return e.s, nil
}

// ReplaceSession implements authz.SessionStore.
func (m *Memory) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	next, err := normalise(next)
	if err != nil {
		return fmt.Errorf("session: replace: %w", err)
	}
	// Copies: a caller's string may be a view of a whole request (the gRPC
	// wire path), which a stored session must not keep alive.
	next.ProfileID, next.IdentityKey = strings.Clone(next.ProfileID), strings.Clone(next.IdentityKey)
	next.Email, next.App = strings.Clone(next.Email), strings.Clone(next.App)
	if err := unavailable(ctx, "replace"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check before changing anything: a failed replace keeps the old row.
	if _, taken := m.byHash[next.Hash]; taken && !(next.Hash == old) {
		return fmt.Errorf("session: replace: token hash already stored")
	}
	if !old.IsZero() {
		m.remove(old)
	}
	if m.limit > 0 {
		for len(m.byHash) >= m.limit {
			m.remove(m.expiry[0].s.Hash)
		}
	}
	e := &entry{s: next}
	m.byHash[next.Hash] = e
	if m.byProfile[next.ProfileID] == nil {
		m.byProfile[next.ProfileID] = map[cookie.Hash]*entry{}
	}
	m.byProfile[next.ProfileID][next.Hash] = e
	heap.Push(&m.expiry, e)
	return nil
}

// remove deletes hash if present; m.mu is held.
func (m *Memory) remove(hash cookie.Hash) bool {
	e, ok := m.byHash[hash]
	if !ok {
		return false
	}
	delete(m.byHash, hash)
	if set := m.byProfile[e.s.ProfileID]; set != nil {
		delete(set, hash)
		if len(set) == 0 {
			delete(m.byProfile, e.s.ProfileID)
		}
	}
	heap.Remove(&m.expiry, e.index)
	return true
}

// DeleteSession implements authz.SessionStore.
func (m *Memory) DeleteSession(ctx context.Context, hash cookie.Hash) error {
	if err := unavailable(ctx, "delete"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(hash)
	return nil
}

// RenewSession implements authz.SessionStore.
func (m *Memory) RenewSession(ctx context.Context, hash cookie.Hash, renewedAt, expiresAt time.Time) error {
	if err := unavailable(ctx, "renew"); err != nil {
		return err
	}
	renewedAt, expiresAt = stamp(renewedAt), stamp(expiresAt)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byHash[hash]
	if !ok || !e.s.ExpiresAt.After(renewedAt) {
		return fmt.Errorf("session: renew: no live session: %w", authz.ErrNotFound)
	}
	e.s.RenewedAt, e.s.ExpiresAt = renewedAt, expiresAt
	heap.Fix(&m.expiry, e.index)
	return nil
}

// ListByProfile returns the sessions of profileID, expired ones included,
// oldest first.
func (m *Memory) ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error) {
	if err := unavailable(ctx, "list"); err != nil {
		return nil, err
	}
	id, ok := canonicalID(profileID)
	if !ok {
		return nil, nil
	}
	m.mu.Lock()
	var ss []authz.Session
	for _, e := range m.byProfile[id] {
		ss = append(ss, e.s)
	}
	m.mu.Unlock()
	sort.Slice(ss, func(i, j int) bool {
		if !ss[i].CreatedAt.Equal(ss[j].CreatedAt) {
			return ss[i].CreatedAt.Before(ss[j].CreatedAt)
		}
		return string(ss[i].Hash[:]) < string(ss[j].Hash[:])
	})
	return ss, nil
}

// RevokeByProfile deletes every session of profileID and returns how many
// it deleted.
func (m *Memory) RevokeByProfile(ctx context.Context, profileID string) (int, error) {
	if err := unavailable(ctx, "revoke by profile"); err != nil {
		return 0, err
	}
	id, ok := canonicalID(profileID)
	if !ok {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h := range m.byProfile[id] {
		if m.remove(h) {
			n++
		}
	}
	return n, nil
}

// DeleteExpired deletes the sessions with expires_at <= before and returns
// how many; batch only matters to Postgres.
func (m *Memory) DeleteExpired(ctx context.Context, before time.Time, batch int) (int, error) {
	if err := unavailable(ctx, "delete expired"); err != nil {
		return 0, err
	}
	before = stamp(before)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for len(m.expiry) > 0 && !m.expiry[0].s.ExpiresAt.After(before) {
		m.remove(m.expiry[0].s.Hash)
		n++
	}
	return n, nil
}

// expiryHeap orders entries by expires_at (then hash, for determinism).
type expiryHeap []*entry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	a, b := h[i].s, h[j].s
	if !a.ExpiresAt.Equal(b.ExpiresAt) {
		return a.ExpiresAt.Before(b.ExpiresAt)
	}
	return string(a.Hash[:]) < string(b.Hash[:])
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
