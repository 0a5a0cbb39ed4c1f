package cache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

// clock is an injected clock tests move by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// fakeProfiles is a ProfileSource with function fields that counts calls.
type fakeProfiles struct {
	calls    atomic.Int64
	lookup   func(ctx context.Context, email string) (authz.Profile, error)
	register func(ctx context.Context, email, name, app string) (authz.Profile, error)
}

func (f *fakeProfiles) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	f.calls.Add(1)
	return f.lookup(ctx, email)
}

func (f *fakeProfiles) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	return f.register(ctx, email, name, app)
}

type fakeSessions struct {
	calls   atomic.Int64
	get     func(ctx context.Context, h cookie.Hash) (authz.Session, error)
	replace func(ctx context.Context, old cookie.Hash, next authz.Session) error
	del     func(ctx context.Context, h cookie.Hash) error
	renew   func(ctx context.Context, h cookie.Hash, r, e time.Time) error
	bind    func(ctx context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error
}

func (f *fakeSessions) GetSession(ctx context.Context, h cookie.Hash) (authz.Session, error) {
	f.calls.Add(1)
	return f.get(ctx, h)
}
func (f *fakeSessions) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	return f.replace(ctx, old, next)
}
func (f *fakeSessions) DeleteSession(ctx context.Context, h cookie.Hash) error { return f.del(ctx, h) }
func (f *fakeSessions) RenewSession(ctx context.Context, h cookie.Hash, r, e time.Time) error {
	return f.renew(ctx, h, r, e)
}
func (f *fakeSessions) BindSession(ctx context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	return f.bind(ctx, h, app, stale, at)
}

type fakeTokens struct {
	calls  atomic.Int64
	lookup func(ctx context.Context, h cookie.Hash) (authz.AccessToken, error)
}

func (f *fakeTokens) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	f.calls.Add(1)
	return f.lookup(ctx, h)
}

func hashOf(s string) cookie.Hash { return cookie.Hash(sha256.Sum256([]byte(s))) }

var (
	errNotFound    = fmt.Errorf("store: %w", authz.ErrNotFound)
	errUnavailable = fmt.Errorf("store: %w", authz.ErrUnavailable)
)

// profileStore answers from a map guarded by a mutex; a missing email is
// not found.
func profileStore(profiles map[string]authz.Profile) (*fakeProfiles, *sync.Mutex) {
	var mu sync.Mutex
	f := &fakeProfiles{}
	f.lookup = func(_ context.Context, email string) (authz.Profile, error) {
		mu.Lock()
		defer mu.Unlock()
		p, ok := profiles[email]
		if !ok {
			return authz.Profile{}, errNotFound
		}
		return p, nil
	}
	return f, &mu
}

func TestProfileTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	store, _ := profileStore(map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io", Active: true}})
	hits, misses := &counter{}, &counter{}
	c := NewProfiles(store, Options{Size: 10, TTL: 30 * time.Second, Now: clk.Now, Hits: hits, Misses: misses})
	for range 3 {
		p, err := c.LookupProfile(ctx, "a@x.io")
		if err != nil || p.ID != "1" {
			t.Fatalf("lookup = %+v, %v", p, err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store calls = %d, want 1", n)
	}
	if hits.n.Load() != 2 || misses.n.Load() != 1 {
		t.Errorf("hits %d misses %d, want 2 and 1", hits.n.Load(), misses.n.Load())
	}
	clk.Advance(22 * time.Second) // before any refresh is due
	if _, _ = c.LookupProfile(ctx, "a@x.io"); store.calls.Load() != 1 {
		t.Fatalf("an entry younger than the TTL was not served")
	}
	clk.Advance(8*time.Second - time.Nanosecond) // due: served, and reloaded in the background
	if _, _ = c.LookupProfile(ctx, "a@x.io"); misses.n.Load() != 1 {
		t.Fatalf("an entry younger than the TTL was not served")
	}
	c.c.refreshing.Wait()
	if n := store.calls.Load(); n != 2 {
		t.Fatalf("store calls after a due hit = %d, want 2 (the background reload)", n)
	}
	// The reloaded entry lives one TTL from its reload, not longer.
	clk.Advance(30 * time.Second)
	if _, _ = c.LookupProfile(ctx, "a@x.io"); store.calls.Load() != 3 || misses.n.Load() != 2 {
		t.Fatalf("an entry as old as the TTL was served (calls %d, misses %d)", store.calls.Load(), misses.n.Load())
	}
}

// TestRefreshAhead: an entry in use is reloaded once, in the background,
// between 3/4 and 7/8 of its TTL; a failed reload leaves it to expire at
// its own deadline.
func TestRefreshAhead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	profiles := map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io", Active: true, Name: "A"}}
	store, mu := profileStore(profiles)
	refreshes := &counter{}
	c := NewProfiles(store, Options{Size: 10, TTL: 80 * time.Second, Now: clk.Now, Refreshes: refreshes})
	lookup := func() authz.Profile {
		t.Helper()
		p, err := c.LookupProfile(ctx, "a@x.io")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lookup()
	clk.Advance(59 * time.Second) // < 3/4 TTL
	lookup()
	if refreshes.n.Load() != 0 {
		t.Fatal("reloaded before 3/4 of the TTL")
	}
	mu.Lock()
	profiles["a@x.io"] = authz.Profile{ID: "1", Email: "a@x.io", Active: true, Name: "A2"}
	mu.Unlock()
	clk.Advance(11 * time.Second) // 70 s: past 7/8 of the TTL
	if p := lookup(); p.Name != "A" {
		t.Fatalf("a due hit answered %q, want the cached %q", p.Name, "A")
	}
	lookup() // a second due hit does not start a second reload
	c.c.refreshing.Wait()
	if refreshes.n.Load() != 1 || store.calls.Load() != 2 {
		t.Fatalf("refreshes %d, store calls %d; want 1 and 2", refreshes.n.Load(), store.calls.Load())
	}
	if p := lookup(); p.Name != "A2" {
		t.Fatalf("after the reload: %q, want %q", p.Name, "A2")
	}

	// The reloaded entry is due again at 70+70 s; this time the store is
	// down: the entry keeps answering until 70+80 s, then the caller waits
	// for the store like any miss.
	store.lookup = func(context.Context, string) (authz.Profile, error) { return authz.Profile{}, errUnavailable }
	clk.Advance(71 * time.Second)
	if p := lookup(); p.Name != "A2" {
		t.Fatalf("a due hit with the store down: %q", p.Name)
	}
	c.c.refreshing.Wait()
	clk.Advance(8*time.Second + 999*time.Millisecond)
	if p := lookup(); p.Name != "A2" || refreshes.n.Load() != 2 {
		t.Fatalf("after a failed reload: %q, refreshes %d (want the entry, and no second reload)", p.Name, refreshes.n.Load())
	}
	clk.Advance(time.Millisecond)
	if _, err := c.LookupProfile(ctx, "a@x.io"); !authz.IsTransient(err) {
		t.Fatalf("past its deadline with the store down: %v, want a transient error", err)
	}
}

func TestBound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	profiles := map[string]authz.Profile{}
	for i := range 10 {
		e := fmt.Sprintf("u%d@x.io", i)
		profiles[e] = authz.Profile{ID: fmt.Sprint(i), Email: e}
	}
	store, _ := profileStore(profiles)
	c := NewProfiles(store, Options{Size: 3, Now: newClock().Now})
	look := func(i int) {
		t.Helper()
		if _, err := c.LookupProfile(ctx, fmt.Sprintf("u%d@x.io", i)); err != nil {
			t.Fatal(err)
		}
	}
	look(0)
	look(1)
	look(2)
	look(0) // 0 is now the most recent; 1 the least
	look(3) // evicts 1
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	before := store.calls.Load()
	look(0)
	look(2)
	look(3)
	if store.calls.Load() != before {
		t.Fatalf("a recently used entry was evicted")
	}
	look(1)
	if store.calls.Load() != before+1 {
		t.Fatalf("the least recently used entry was not evicted")
	}
	for i := range 10 {
		look(i)
	}
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d after 10 keys, want 3", n)
	}
	// A large cache is sharded; its bound still holds.
	big := newLRU[int, int, int](100_000, func(k int) uint64 { return uint64(k) * 0x9E3779B97F4A7C15 }, time.Now(), valueCodec[int, int]{}, nil)
	if len(big.shards) < 2 {
		t.Fatalf("a 100k cache has %d shard(s)", len(big.shards))
	}
	far := time.Now().Add(time.Hour)
	for i := range 300_000 {
		big.add(i, i, false, false, far, time.Time{}, big.seq(i))
	}
	if n := big.len(); n > 100_000+len(big.shards) || n < 90_000 {
		t.Fatalf("sharded cache holds %d entries, want about 100000", n)
	}
	// Every shard's slab holds no more nodes than its bound (plus the
	// sentinel): evicted nodes are reused, not appended.
	for i := range big.shards {
		s := &big.shards[i]
		if len(s.nodes) > s.cap+1 || len(s.m)+len(s.free) != len(s.nodes)-1 {
			t.Fatalf("shard %d: %d nodes, %d entries, %d free, bound %d", i, len(s.nodes), len(s.m), len(s.free), s.cap)
		}
	}
	// The newest entries survive, in recency order.
	if _, _, _, ok := big.get(299_999, time.Now()); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if _, _, _, ok := big.get(0, time.Now()); ok {
		t.Fatal("the oldest entry survived")
	}
}

// TestLRUOrder walks one shard's recency list through every operation
// that moves, reuses or frees a node.
func TestLRUOrder(t *testing.T) {
	t.Parallel()
	now := time.Now()
	far := now.Add(time.Hour)
	c := newLRU[string, int, int](3, hashString, now, valueCodec[string, int]{}, nil)
	order := func() []string {
		s := &c.shards[0]
		var keys []string
		for i := s.nodes[0].next; i != 0; i = s.nodes[i].next {
			keys = append(keys, s.nodes[i].key)
		}
		return keys
	}
	want := func(keys ...string) {
		t.Helper()
		if got := order(); !slices.Equal(got, keys) {
			t.Fatalf("recency %v, want %v", got, keys)
		}
		if c.len() != len(keys) {
			t.Fatalf("len %d, want %d", c.len(), len(keys))
		}
	}
	add := func(k string, v int) { c.add(k, v, false, false, far, time.Time{}, c.seq(k)) }
	add("a", 1)
	add("b", 2)
	add("c", 3)
	want("c", "b", "a")
	c.get("a", now)
	want("a", "c", "b")
	add("d", 4) // evicts b, the least recent
	want("d", "a", "c")
	c.remove("a")
	want("d", "c")
	add("c", 30) // an update moves to the front
	want("c", "d")
	if v, _, _, _ := c.get("c", now); v != 30 {
		t.Fatalf("c = %d", v)
	}
	c.add("e", 5, false, false, now.Add(time.Second), time.Time{}, c.seq("e"))
	if _, _, _, ok := c.get("e", now.Add(time.Second)); ok {
		t.Fatal("an entry at its deadline was served")
	}
	want("c", "d")
	c.removeIf(func(k string, _ int) bool { return k == "d" })
	want("c")
	c.purge()
	want()
	add("f", 6)
	add("g", 7)
	want("g", "f")
}

func TestSingleflightCollapses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const callers = 50
	release := make(chan struct{})
	store := &fakeProfiles{lookup: func(context.Context, string) (authz.Profile, error) {
		<-release
		return authz.Profile{ID: "1", Email: "a@x.io"}, nil
	}}
	c := NewProfiles(store, Options{Now: newClock().Now})
	var joined sync.WaitGroup
	joined.Add(callers)
	c.c.joined = joined.Done
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			p, err := c.LookupProfile(ctx, "a@x.io")
			if err == nil && p.ID != "1" {
				err = fmt.Errorf("got %+v", p)
			}
			errs <- err
		})
	}
	joined.Wait() // every caller is waiting on a trip
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("%d concurrent misses made %d store calls, want 1", callers, n)
	}
}

func TestNegativeTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	profiles := map[string]authz.Profile{}
	store, mu := profileStore(profiles)
	c := NewProfiles(store, Options{TTL: time.Minute, NegativeTTL: 2 * time.Second, Now: clk.Now})
	for range 3 {
		if _, err := c.LookupProfile(ctx, "n@x.io"); !errors.Is(err, authz.ErrNotFound) || authz.IsTransient(err) {
			t.Fatalf("lookup = %v, want not found", err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store calls = %d, want 1 (negative answer cached)", n)
	}
	mu.Lock()
	profiles["n@x.io"] = authz.Profile{ID: "9", Email: "n@x.io"}
	mu.Unlock()
	clk.Advance(2 * time.Second)
	if p, err := c.LookupProfile(ctx, "n@x.io"); err != nil || p.ID != "9" {
		t.Fatalf("after the negative TTL: %+v, %v", p, err)
	}
	// Off: every miss goes to the store.
	off := NewProfiles(store, Options{NegativeTTL: -1, Now: clk.Now})
	before := store.calls.Load()
	_, _ = off.LookupProfile(ctx, "m@x.io")
	_, _ = off.LookupProfile(ctx, "m@x.io")
	if store.calls.Load() != before+2 {
		t.Fatalf("negative caching not off")
	}
}

func TestErrorsNeverCached(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	var fail atomic.Pointer[error]
	set := func(err error) { fail.Store(&err) }
	set(errUnavailable)
	store := &fakeProfiles{lookup: func(context.Context, string) (authz.Profile, error) {
		if err := *fail.Load(); err != nil {
			return authz.Profile{}, err
		}
		return authz.Profile{ID: "1", Email: "a@x.io"}, nil
	}}
	c := NewProfiles(store, Options{TTL: 30 * time.Second, Now: clk.Now})
	for i := range 3 {
		if _, err := c.LookupProfile(ctx, "a@x.io"); !authz.IsTransient(err) {
			t.Fatalf("lookup %d = %v, want transient", i, err)
		}
	}
	if n := store.calls.Load(); n != 3 {
		t.Fatalf("store calls = %d, want 3 (transient errors are never cached)", n)
	}
	permanent := errors.New("syntax error")
	set(permanent)
	_, _ = c.LookupProfile(ctx, "a@x.io")
	_, _ = c.LookupProfile(ctx, "a@x.io")
	if n := store.calls.Load(); n != 5 {
		t.Fatalf("store calls = %d, want 5 (permanent errors are never cached)", n)
	}
	// A transient error that also wraps ErrNotFound is still transient.
	set(fmt.Errorf("%w: %w", authz.ErrUnavailable, errNotFound))
	_, _ = c.LookupProfile(ctx, "a@x.io")
	_, _ = c.LookupProfile(ctx, "a@x.io")
	if n := store.calls.Load(); n != 7 {
		t.Fatalf("store calls = %d, want 7", n)
	}
	// A fresh answer is served while the store is down; an expired one is
	// not (row 6: only a fresh cached answer).
	set(nil)
	if _, err := c.LookupProfile(ctx, "a@x.io"); err != nil {
		t.Fatal(err)
	}
	set(errUnavailable)
	clk.Advance(29 * time.Second)
	if _, err := c.LookupProfile(ctx, "a@x.io"); err != nil {
		t.Fatalf("fresh entry with the store down: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := c.LookupProfile(ctx, "a@x.io"); !authz.IsTransient(err) {
		t.Fatalf("expired entry with the store down = %v, want transient (never served stale)", err)
	}
}

func TestSessionNeverOutlivesItsExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	h := hashOf("s")
	expires := clk.Now().Add(5 * time.Second)
	store := &fakeSessions{get: func(context.Context, cookie.Hash) (authz.Session, error) {
		return authz.Session{Hash: h, ProfileID: "1", ExpiresAt: expires}, nil
	}}
	c := NewSessions(store, Options{TTL: time.Hour, Now: clk.Now})
	_, _ = c.GetSession(ctx, h)
	clk.Advance(5*time.Second - time.Nanosecond)
	_, _ = c.GetSession(ctx, h)
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store calls = %d, want 1", n)
	}
	clk.Advance(time.Nanosecond)
	_, _ = c.GetSession(ctx, h)
	if n := store.calls.Load(); n != 2 {
		t.Fatalf("a session entry outlived ExpiresAt (store calls %d)", n)
	}
	// An already expired session is returned (the caller judges) but not kept.
	_, _ = c.GetSession(ctx, h)
	if n := store.calls.Load(); n != 3 {
		t.Fatalf("an expired session was cached")
	}
}

func TestSessionWritesThrough(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	var mu sync.Mutex
	rows := map[cookie.Hash]authz.Session{}
	store := &fakeSessions{
		get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
			mu.Lock()
			defer mu.Unlock()
			s, ok := rows[h]
			if !ok {
				return authz.Session{}, errNotFound
			}
			return s, nil
		},
		replace: func(_ context.Context, old cookie.Hash, next authz.Session) error {
			mu.Lock()
			defer mu.Unlock()
			delete(rows, old)
			rows[next.Hash] = next
			return nil
		},
		del: func(_ context.Context, h cookie.Hash) error {
			mu.Lock()
			defer mu.Unlock()
			delete(rows, h)
			return nil
		},
		renew: func(_ context.Context, h cookie.Hash, r, e time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			s, ok := rows[h]
			if !ok {
				return errNotFound
			}
			s.RenewedAt, s.ExpiresAt = r, e
			rows[h] = s
			return nil
		},
	}
	c := NewSessions(store, Options{Now: clk.Now})
	mk := func(label string) authz.Session {
		now := clk.Now()
		return authz.Session{Hash: hashOf(label), ProfileID: label, CreatedAt: now, RenewedAt: now,
			ExpiresAt: now.Add(time.Hour), Stale: []cookie.Hash{hashOf("stale")}}
	}
	a, b := mk("a"), mk("b")
	if err := c.ReplaceSession(ctx, cookie.Hash{}, a); err != nil {
		t.Fatal(err)
	}
	if s, err := c.GetSession(ctx, a.Hash); err != nil || s.ProfileID != "a" || store.calls.Load() != 0 {
		t.Fatalf("the session just written was not cached: %+v, %v, %d calls", s, err, store.calls.Load())
	}
	// The caller gets its own copy of Stale.
	s, _ := c.GetSession(ctx, a.Hash)
	s.Stale[0] = cookie.Hash{}
	if s, _ := c.GetSession(ctx, a.Hash); s.Stale[0] != hashOf("stale") {
		t.Fatalf("a caller wrote into the cached session")
	}
	// Re-key: a is gone at once, b is served from memory.
	if err := c.ReplaceSession(ctx, a.Hash, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSession(ctx, a.Hash); !errors.Is(err, authz.ErrNotFound) || store.calls.Load() != 1 {
		t.Fatalf("old session after re-key: %v (%d store calls)", err, store.calls.Load())
	}
	if s, err := c.GetSession(ctx, b.Hash); err != nil || s.ProfileID != "b" || store.calls.Load() != 1 {
		t.Fatalf("new session after re-key: %+v, %v", s, err)
	}
	// Renew updates in place.
	renewed, expires := clk.Now().Add(time.Minute), clk.Now().Add(2*time.Hour)
	if err := c.RenewSession(ctx, b.Hash, renewed, expires); err != nil {
		t.Fatal(err)
	}
	if s, err := c.GetSession(ctx, b.Hash); err != nil || !s.ExpiresAt.Equal(expires) || !s.RenewedAt.Equal(renewed) || store.calls.Load() != 1 {
		t.Fatalf("after renew: %+v, %v, %d calls", s, err, store.calls.Load())
	}
	// Delete drops.
	if err := c.DeleteSession(ctx, b.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSession(ctx, b.Hash); !errors.Is(err, authz.ErrNotFound) || store.calls.Load() != 2 {
		t.Fatalf("after delete: %v, %d calls", err, store.calls.Load())
	}
	// A failed renewal of a missing session drops any entry.
	c2 := NewSessions(store, Options{Now: clk.Now})
	_ = c2.ReplaceSession(ctx, cookie.Hash{}, a)
	mu.Lock()
	delete(rows, a.Hash) // gone behind the cache's back
	mu.Unlock()
	if err := c2.RenewSession(ctx, a.Hash, renewed, expires); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("renew of a missing session = %v", err)
	}
	if _, err := c2.GetSession(ctx, a.Hash); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("entry kept after a renewal found no session: %v", err)
	}
}

func TestRegisterCaches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, _ := profileStore(map[string]authz.Profile{})
	store.register = func(_ context.Context, email, _, _ string) (authz.Profile, error) {
		return authz.Profile{ID: "7", Email: email, Active: true}, nil
	}
	c := NewProfiles(store, Options{Now: newClock().Now})
	if _, err := c.LookupProfile(ctx, "r@x.io"); !errors.Is(err, authz.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.RegisterProfile(ctx, "r@x.io", "", "app"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.LookupProfile(ctx, "r@x.io"); err != nil || p.ID != "7" || store.calls.Load() != 1 {
		t.Fatalf("registered profile not cached over the negative entry: %+v, %v", p, err)
	}
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	profiles := map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io"}}
	pstore, mu := profileStore(profiles)
	pc := NewProfiles(pstore, Options{Now: clk.Now})
	_, _ = pc.LookupProfile(ctx, "a@x.io")
	mu.Lock()
	profiles["a@x.io"] = authz.Profile{ID: "1", Email: "a@x.io", Blocked: true}
	mu.Unlock()
	pc.Invalidate(notify.Session(hashOf("unrelated")))
	if p, _ := pc.LookupProfile(ctx, "a@x.io"); p.Blocked {
		t.Fatal("an unrelated event evicted")
	}
	pc.Invalidate(notify.Profile("1", "a@x.io"))
	if p, _ := pc.LookupProfile(ctx, "a@x.io"); !p.Blocked {
		t.Fatal("profile event did not evict by email")
	}
	pc.Invalidate(notify.Event{Kind: notify.KindProfile, ID: "1"})
	if pc.Len() != 0 {
		t.Fatal("profile event with only an id did not evict")
	}

	tokStore := &fakeTokens{lookup: func(_ context.Context, h cookie.Hash) (authz.AccessToken, error) {
		return authz.AccessToken{Hash: h, ProfileID: "1", Profile: authz.Profile{ID: "1", Email: "a@x.io"}}, nil
	}}
	tc := NewTokens(tokStore, Options{Now: clk.Now})
	_, _ = tc.LookupAccessToken(ctx, hashOf("t1"))
	_, _ = tc.LookupAccessToken(ctx, hashOf("t2"))
	tc.Invalidate(notify.Token(hashOf("t1")))
	if tc.Len() != 1 {
		t.Fatalf("token event: %d entries left, want 1", tc.Len())
	}
	tc.Invalidate(notify.Profile("1", "a@x.io"))
	if tc.Len() != 0 {
		t.Fatalf("profile event left %d tokens of that profile", tc.Len())
	}
	// A token never outlives its expiry either.
	exp := clk.Now().Add(time.Second)
	tokStore.lookup = func(_ context.Context, h cookie.Hash) (authz.AccessToken, error) {
		return authz.AccessToken{Hash: h, ExpiresAt: exp}, nil
	}
	_, _ = tc.LookupAccessToken(ctx, hashOf("t3"))
	clk.Advance(time.Second)
	before := tokStore.calls.Load()
	_, _ = tc.LookupAccessToken(ctx, hashOf("t3"))
	if tokStore.calls.Load() != before+1 {
		t.Fatal("a token entry outlived the token")
	}

	sc := NewSessions(&fakeSessions{get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
		return authz.Session{Hash: h, ExpiresAt: clk.Now().Add(time.Hour)}, nil
	}}, Options{Now: clk.Now})
	_, _ = sc.GetSession(ctx, hashOf("s1"))
	_, _ = sc.GetSession(ctx, hashOf("s2"))
	sc.Invalidate(notify.Session(hashOf("s1")))
	if sc.Len() != 1 {
		t.Fatal("session event did not evict")
	}
	sc.Purge()
	if sc.Len() != 0 {
		t.Fatal("purge left entries")
	}
}

// TestNoStaleRefill: an answer read before an invalidation is not cached
// after it, and a caller that saw the invalidation does not take the answer
// of a trip that started before it.
func TestNoStaleRefill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var version atomic.Int64
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	store := &fakeProfiles{lookup: func(context.Context, string) (authz.Profile, error) {
		v := version.Load()
		if v == 0 {
			started <- struct{}{}
			<-release
		}
		return authz.Profile{ID: "1", Email: "a@x.io", Blocked: v > 0}, nil
	}}
	c := NewProfiles(store, Options{Now: newClock().Now})
	joined := make(chan struct{}, 16)
	c.c.joined = func() { joined <- struct{}{} }
	first := make(chan authz.Profile, 1)
	go func() {
		p, _ := c.LookupProfile(ctx, "a@x.io")
		first <- p
	}()
	<-started // the trip read the old state and is in flight
	version.Store(1)
	c.Invalidate(notify.Profile("1", "a@x.io")) // the block committed and was announced
	second := make(chan authz.Profile, 1)
	go func() {
		p, _ := c.LookupProfile(ctx, "a@x.io")
		second <- p
	}()
	<-joined
	<-joined // both callers joined the old trip
	close(release)
	if p := <-first; p.Blocked {
		t.Fatalf("first caller: %+v (it asked before the change)", p)
	}
	if p := <-second; !p.Blocked {
		t.Fatalf("a caller that saw the invalidation got the older answer: %+v", p)
	}
	if p, _ := c.LookupProfile(ctx, "a@x.io"); !p.Blocked {
		t.Fatalf("the answer read before the invalidation was cached: %+v", p)
	}
}

func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	store := &fakeProfiles{lookup: func(ctx context.Context, _ string) (authz.Profile, error) {
		select {
		case <-release:
			return authz.Profile{ID: "1"}, nil
		case <-ctx.Done():
			return authz.Profile{}, fmt.Errorf("%w: %w", authz.ErrUnavailable, ctx.Err())
		}
	}}
	c := NewProfiles(store, Options{Now: newClock().Now})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.LookupProfile(ctx, "a@x.io"); !authz.IsTransient(err) {
		t.Fatalf("cancelled caller = %v, want transient", err)
	}
}

func TestHitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	store, _ := profileStore(map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io"}})
	pc := NewProfiles(store, Options{Hits: &counter{}})
	sc := NewSessions(&fakeSessions{get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
		return authz.Session{Hash: h, ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}, Options{})
	h := hashOf("s")
	_, _ = pc.LookupProfile(ctx, "a@x.io")
	_, _ = pc.LookupProfile(ctx, "none@x.io")
	_, _ = sc.GetSession(ctx, h)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = pc.LookupProfile(ctx, "a@x.io")
		_, _ = pc.LookupProfile(ctx, "none@x.io") // negative hit
		_, _ = sc.GetSession(ctx, h)
	}); n != 0 {
		t.Fatalf("a hit allocates %v times", n)
	}
}

// TestEntriesShareNoMemoryWithTheRequest: keys and values stored in a cache
// are copies. Strings of a request decoded by the gRPC wire path are views
// of the whole serialized request; an entry holding one would keep that
// request alive for as long as the entry lives.
func TestEntriesShareNoMemoryWithTheRequest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	request := strings.Repeat("h", 4096) + "known@x.io unknown@x.io new@x.io New app"
	view := func(s string) string {
		i := strings.Index(request, s)
		return request[i : i+len(s)]
	}
	inRequest := func(s string) bool {
		if s == "" {
			return false
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		base := uintptr(unsafe.Pointer(unsafe.StringData(request)))
		return p >= base && p < base+uintptr(len(request))
	}

	store, _ := profileStore(map[string]authz.Profile{"known@x.io": {ID: "1", Email: view("known@x.io"), Active: true}})
	store.register = func(_ context.Context, email, name, app string) (authz.Profile, error) {
		return authz.Profile{ID: "2", Email: email, Name: name, Active: true, RegisteredBy: app}, nil
	}
	profiles := NewProfiles(store, Options{Size: 10})
	_, _ = profiles.LookupProfile(ctx, view("known@x.io"))
	_, _ = profiles.LookupProfile(ctx, view("unknown@x.io")) // a negative entry
	_, _ = profiles.RegisterProfile(ctx, view("new@x.io"), view("New"), view("app"))
	n := 0
	for i := range profiles.c.lru.shards {
		sh := &profiles.c.lru.shards[i]
		for k, j := range sh.m {
			e := sh.nodes[j]
			n++
			if inRequest(k) || inRequest(e.val.Email) || inRequest(e.val.Name) || inRequest(e.val.ID) || inRequest(e.val.RegisteredBy) {
				t.Errorf("profile entry %q shares the request's memory: %+v", k, e.val)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d profile entries, want 3", n)
	}

	sessions := NewSessions(&fakeSessions{replace: func(context.Context, cookie.Hash, authz.Session) error { return nil }}, Options{Size: 10})
	next := authz.Session{Hash: hashOf("s"), ProfileID: "1", IdentityKey: "email:" + view("known@x.io"),
		Email: view("known@x.io"), App: view("app"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := sessions.ReplaceSession(ctx, cookie.Hash{}, next); err != nil {
		t.Fatal(err)
	}
	for i := range sessions.c.lru.shards {
		sh := &sessions.c.lru.shards[i]
		for k, j := range sh.m {
			e := sessionCodec{}.decode(&sh.arena, k, &sh.nodes[j].val)
			if inRequest(e.Email) || inRequest(e.App) || inRequest(e.IdentityKey) {
				t.Errorf("session entry shares the request's memory: %+v", e)
			}
		}
	}
}

// TestSweep: a sweep drops exactly the entries that are dead, negative or
// positive, and their nodes are reused.
func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	store, _ := profileStore(map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io", Active: true}})
	c := NewProfiles(store, Options{Size: 1000, TTL: 10 * time.Second, NegativeTTL: 2 * time.Second, Now: clk.Now})
	_, _ = c.LookupProfile(ctx, "a@x.io")
	for i := range 100 {
		_, _ = c.LookupProfile(ctx, fmt.Sprintf("nobody%d@x.io", i)) // negative entries
	}
	if n := c.Sweep(); n != 0 || c.Len() != 101 {
		t.Fatalf("a sweep before anything died dropped %d, left %d", n, c.Len())
	}
	clk.Advance(2 * time.Second)
	if n := c.Sweep(); n != 100 || c.Len() != 1 {
		t.Fatalf("a sweep after the negative TTL dropped %d, left %d; want 100 and 1", n, c.Len())
	}
	if p, err := c.LookupProfile(ctx, "a@x.io"); err != nil || p.ID != "1" || store.calls.Load() != 101 {
		t.Fatalf("the live entry did not survive the sweep: %+v %v (store calls %d)", p, err, store.calls.Load())
	}
	for i := range c.c.lru.shards {
		s := &c.c.lru.shards[i]
		if len(s.m)+len(s.free) != len(s.nodes)-1 {
			t.Fatalf("shard %d: %d entries + %d free != %d nodes", i, len(s.m), len(s.free), len(s.nodes)-1)
		}
	}
	clk.Advance(10 * time.Second)
	if n := c.Sweep(); n != 1 || c.Len() != 0 {
		t.Fatalf("a sweep after the TTL dropped %d, left %d", n, c.Len())
	}
}

// TestSessionBindRereads: after a binding the next read is the store's row
// with its new app, never the cached one without it (which would make the
// app take the binding, and flush its cookies, again). A hit hands out its
// own copy of Apps.
func TestSessionBindRereads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	h := hashOf("s")
	row := authz.Session{Hash: h, ProfileID: "1", App: "plane", ExpiresAt: time.Now().Add(time.Hour)}
	var mu sync.Mutex
	store := &fakeSessions{
		get: func(context.Context, cookie.Hash) (authz.Session, error) {
			mu.Lock()
			defer mu.Unlock()
			return row, nil
		},
		bind: func(_ context.Context, _ cookie.Hash, app string, _ []cookie.Hash, _ time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			row.Apps = append(slices.Clone(row.Apps), app)
			return nil
		},
	}
	c := NewSessions(store, Options{Size: 10, TTL: time.Hour})
	if s, _ := c.GetSession(ctx, h); len(s.Apps) != 0 {
		t.Fatalf("apps before binding: %v", s.Apps)
	}
	if err := c.BindSession(ctx, h, "wiki", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, _ := c.GetSession(ctx, h)
	if !slices.Equal(s.Apps, []string{"wiki"}) {
		t.Fatalf("apps after binding: %v, want [wiki]", s.Apps)
	}
	s.Apps[0] = "changed"
	if s, _ := c.GetSession(ctx, h); s.Apps[0] != "wiki" {
		t.Fatalf("a caller wrote into the cached entry: %v", s.Apps)
	}
}

// TestFeedLifetime: while the change feed is up an entry outlives the TTL
// (the feed keeps it right); once the feed is down it is used for at most
// one TTL after the feed last delivered, and entries loaded while it is
// down get the plain TTL.
func TestFeedLifetime(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	store, _ := profileStore(map[string]authz.Profile{"a@x.io": {ID: "1", Email: "a@x.io", Active: true}})
	feed := NewFeed()
	feed.connected(clk.Now())
	c := NewProfiles(store, Options{Size: 10, TTL: 10 * time.Second, Feed: feed, Now: clk.Now})
	look := func(what string, wantCalls int64) {
		t.Helper()
		if p, err := c.LookupProfile(ctx, "a@x.io"); err != nil || p.ID != "1" {
			t.Fatalf("%s: %+v, %v", what, p, err)
		}
		if n := store.calls.Load(); n != wantCalls {
			t.Fatalf("%s: %d store calls, want %d", what, n, wantCalls)
		}
	}
	look("first", 1)
	clk.Advance(100 * time.Second) // ten TTLs, the feed up
	feed.alive(clk.Now())
	look("ten TTLs later, feed up", 1)
	feed.lost()
	clk.Advance(9 * time.Second)
	look("feed lost, within a TTL of its last delivery", 1)
	clk.Advance(time.Second)
	look("feed lost a TTL ago", 2)
	clk.Advance(9 * time.Second)
	look("loaded while the feed is down, within the TTL", 2)
	clk.Advance(time.Second)
	look("loaded while the feed is down, a TTL later", 3)
	feed.connected(clk.Now())
	clk.Advance(FeedLifetime*10*time.Second - time.Second)
	look("loaded while down: the plain TTL even once the feed is back", 4)
}
