package session

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Memory is an in-process session store with the semantics of Postgres. It
// is safe for concurrent use. It is meant for trials: nothing persists, and
// it is bounded (see NewMemory).
type Memory struct {
	limit      int
	perProfile int // sessions kept per profile and app; <= 0: no cap

	mu        sync.Mutex
	byHash    map[cookie.Hash]*entry
	byProfile map[string]*profileSessions
	expiry    expiryHeap              // every entry, soonest expires_at first
	heaviest  profileHeap             // every profile, most sessions first
	clock     uint64                  // counts uses (create, get, renew)
	jtis      map[[2]string]time.Time // back-channel logout (issuer, jti) → kept until
	logouts   []Logout
}

var _ authz.SessionStore = (*Memory)(nil)

type entry struct {
	s          authz.Session
	index      int    // in expiry
	used       uint64 // clock at the last use
	prev, next *entry // in its profile's list, least recently used first
}

// profileSessions are one profile's sessions, least recently used first.
type profileSessions struct {
	id         string
	n          int
	head, tail *entry
	index      int // in heaviest
}

// NewMemory returns an empty store holding at most limit sessions (<= 0:
// unbounded). Creating a session at the limit evicts one: an expired
// session if there is one, else the least recently used session of the
// profile holding the most sessions (least recently used profile first
// among equals). Every stored session is bound to a profile, so there is
// no anonymous session to sacrifice first; what tells a flood from a user
// is that a client which never returns its cookie piles up sessions of one
// identity, and those are the ones evicted. A use is creation, GetSession
// or RenewSession as seen by this store (a cache in front hides hits).
func NewMemory(limit int) *Memory {
	return &Memory{
		limit:     limit,
		byHash:    map[cookie.Hash]*entry{},
		byProfile: map[string]*profileSessions{},
	}
}

// WithLimitPerProfile caps the sessions one profile holds for one app at n
// (<= 0: no cap), as Postgres.WithLimitPerProfile does: creating one more
// removes that profile's least recently used sessions of the app. It
// returns m.
func (m *Memory) WithLimitPerProfile(n int) *Memory {
	m.perProfile = n
	return m
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
	m.touch(e)
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
	for i := range next.Apps {
		next.Apps[i] = strings.Clone(next.Apps[i])
	}
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
			m.remove(m.victim(next.CreatedAt, next.ProfileID))
		}
	}
	e := &entry{s: next}
	m.byHash[next.Hash] = e
	ps := m.byProfile[next.ProfileID]
	if ps == nil {
		ps = &profileSessions{id: next.ProfileID}
		m.byProfile[next.ProfileID] = ps
		heap.Push(&m.heaviest, ps)
	}
	m.clock++
	e.used = m.clock
	ps.push(e)
	heap.Fix(&m.heaviest, ps.index)
	heap.Push(&m.expiry, e)
	m.capProfile(ps, next.App)
	return nil
}

// capProfile removes ps's least recently used sessions of app beyond the
// per-profile cap; m.mu is held.
func (m *Memory) capProfile(ps *profileSessions, app string) {
	if m.perProfile <= 0 {
		return
	}
	n := 0
	for e := ps.head; e != nil; e = e.next {
		if e.s.App == app {
			n++
		}
	}
	for e := ps.head; e != nil && n > m.perProfile; {
		next := e.next
		if e.s.App == app {
			m.remove(e.s.Hash)
			n--
		}
		e = next
	}
}

// victim names the session to evict to make room, at now, for a session of
// profile; m.mu is held and the store is not empty. Counting the incoming
// session, the profile that would hold the most gives one up: the
// incoming profile's own least recently used session when it ties for the
// most, so one client creating sessions in a loop only ever evicts its
// own.
func (m *Memory) victim(now time.Time, profile string) cookie.Hash {
	if soonest := m.expiry[0]; !soonest.s.ExpiresAt.After(now) {
		return soonest.s.Hash
	}
	if own := m.byProfile[profile]; own != nil && own.n+1 >= m.heaviest[0].n {
		return own.head.s.Hash
	}
	return m.heaviest[0].head.s.Hash
}

// touch records a use of e; m.mu is held.
func (m *Memory) touch(e *entry) {
	m.clock++
	e.used = m.clock
	ps := m.byProfile[e.s.ProfileID]
	ps.unlink(e)
	ps.push(e)
	heap.Fix(&m.heaviest, ps.index)
}

// remove deletes hash if present; m.mu is held.
func (m *Memory) remove(hash cookie.Hash) bool {
	e, ok := m.byHash[hash]
	if !ok {
		return false
	}
	delete(m.byHash, hash)
	if ps := m.byProfile[e.s.ProfileID]; ps != nil {
		ps.unlink(e)
		if ps.n == 0 {
			delete(m.byProfile, e.s.ProfileID)
			heap.Remove(&m.heaviest, ps.index)
		} else {
			heap.Fix(&m.heaviest, ps.index)
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
	m.touch(e)
	return nil
}

// BindSession implements authz.SessionStore.
func (m *Memory) BindSession(ctx context.Context, hash cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	if err := unavailable(ctx, "bind"); err != nil {
		return err
	}
	at = stamp(at)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byHash[hash]
	if !ok || !e.s.ExpiresAt.After(at) {
		return fmt.Errorf("session: bind: no live session: %w", authz.ErrNotFound)
	}
	// New slices: a session handed out earlier shares the old ones.
	if app != e.s.App && !slices.Contains(e.s.Apps, app) {
		e.s.Apps = append(slices.Clone(e.s.Apps), strings.Clone(app))
	}
	if len(stale) > 0 {
		e.s.Stale = append(slices.Clone(e.s.Stale), stale...)
	}
	m.touch(e)
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
	if ps := m.byProfile[id]; ps != nil {
		for e := ps.head; e != nil; e = e.next {
			ss = append(ss, e.s)
		}
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
	for ps := m.byProfile[id]; ps != nil && ps.head != nil; ps = m.byProfile[id] {
		if m.remove(ps.head.s.Hash) {
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

// push appends e as the most recently used session.
func (ps *profileSessions) push(e *entry) {
	e.prev, e.next = ps.tail, nil
	if ps.tail != nil {
		ps.tail.next = e
	} else {
		ps.head = e
	}
	ps.tail = e
	ps.n++
}

// unlink takes e out of the list.
func (ps *profileSessions) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		ps.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		ps.tail = e.prev
	}
	e.prev, e.next = nil, nil
	ps.n--
}

// profileHeap orders profiles by how many sessions they hold, most first,
// then by their least recently used session, oldest first.
type profileHeap []*profileSessions

func (h profileHeap) Len() int { return len(h) }
func (h profileHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.n != b.n {
		return a.n > b.n
	}
	if a.head != nil && b.head != nil && a.head.used != b.head.used {
		return a.head.used < b.head.used
	}
	return a.id < b.id
}
func (h profileHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *profileHeap) Push(x any) {
	ps := x.(*profileSessions)
	ps.index = len(*h)
	*h = append(*h, ps)
}
func (h *profileHeap) Pop() any {
	old := *h
	ps := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ps
}
