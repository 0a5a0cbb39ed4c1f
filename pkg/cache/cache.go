package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Defaults of Options.
const (
	DefaultSize        = 100_000
	DefaultTTL         = 30 * time.Second
	DefaultNegativeTTL = 2 * time.Second
)

// Counter is what the caches count hits and misses on (a
// prometheus.Counter fits).
type Counter interface{ Inc() }

// Options tune one cache.
type Options struct {
	// Size bounds the number of entries (positive and negative); <= 0 uses
	// DefaultSize without a Budget and no entry bound with one. Memory is
	// bounded by them, not by traffic.
	Size int
	// Budget, if set, bounds this cache and the others sharing it in bytes.
	Budget *Budget
	// Feed, if set, is the change feed's state: while it is up, entries
	// live FeedLifetime TTLs (see Feed).
	Feed *Feed
	// TTL bounds the age of a positive answer; <= 0 uses DefaultTTL.
	TTL time.Duration
	// NegativeTTL bounds the age of a cached "not found"; 0 uses
	// DefaultNegativeTTL, < 0 turns negative caching off.
	NegativeTTL time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Hits and Misses count lookups answered from memory and lookups that
	// went to the store; Refreshes counts background reloads of entries in
	// use near the end of their TTL (nil: not counted).
	Hits, Misses, Refreshes Counter
}

type nopCounter struct{}

func (nopCounter) Inc() {}

// errCachedNotFound answers a lookup from a negative entry. It is one value,
// so a negative hit allocates nothing.
var errCachedNotFound = fmt.Errorf("cache: %w", authz.ErrNotFound)

// kind is what a decorator tells the core about its keys and answers.
// K is the key callers look up; S is what the cache keeps of it (K
// itself, or a fixed-size prefix of a hash).
type kind[K, S comparable, V, E any] struct {
	load    func(context.Context, K) (V, error) // the store lookup behind the cache
	key     func(K) S                           // the cache's key for K; allocates nothing
	hash    func(S) uint64                      // shard of a key
	flight  func(K) string                      // singleflight key of K
	expires func(V) (time.Time, bool)           // the answer's own end of life, if it has one
	retain  func(S) S                           // a copy of a key that shares no memory with the request
	codec   codec[S, V, E]                      // how an answer is laid out in the cache
}

// core is the lookup logic the three decorators share: an lru plus
// singleflight, TTLs and counters.
type core[K, S comparable, V, E any] struct {
	kind[K, S, V, E]
	lru        *lru[S, V, E]
	feed       *Feed
	group      singleflight.Group
	now        func() time.Time
	ttl        time.Duration
	negTTL     time.Duration
	hits       Counter
	misses     Counter
	refreshes  Counter
	refreshing sync.WaitGroup // background reloads in flight

	// joined, if set, runs after a caller joined a trip (tests only).
	joined func()
}

func newCore[K, S comparable, V, E any](o Options, kd kind[K, S, V, E]) *core[K, S, V, E] {
	if o.Size <= 0 && o.Budget == nil {
		o.Size = DefaultSize
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Hits == nil {
		o.Hits = nopCounter{}
	}
	if o.Misses == nil {
		o.Misses = nopCounter{}
	}
	if o.Refreshes == nil {
		o.Refreshes = nopCounter{}
	}
	l := newLRU(o.Size, kd.hash, o.Now(), kd.codec, o.Budget)
	l.feed, l.ttl = o.Feed, o.TTL
	return &core[K, S, V, E]{
		kind: kd, lru: l, feed: o.Feed, now: o.Now, ttl: o.TTL, negTTL: o.NegativeTTL,
		hits: o.Hits, misses: o.Misses, refreshes: o.Refreshes,
	}
}

// get answers k from memory, starting a background reload when the entry
// is near the end of its TTL, or else from the store. A hit allocates
// nothing.
func (c *core[K, S, V, E]) get(ctx context.Context, k K) (V, error) {
	if v, ok, due, err := c.hit(k); ok {
		if due {
			c.refresh(k)
		}
		return v, err
	}
	return c.fill(ctx, k)
}

// hit answers k from memory if it can. It allocates nothing. due asks the
// caller to start refresh: the entry is near the end of its TTL.
func (c *core[K, S, V, E]) hit(k K) (v V, ok, due bool, err error) {
	v, neg, due, ok := c.lru.get(c.key(k), c.now())
	if !ok {
		var zero V
		return zero, false, false, nil
	}
	c.hits.Inc()
	if neg {
		return v, true, false, errCachedNotFound
	}
	return v, true, due, nil
}

// refreshTimeout bounds a background reload.
const refreshTimeout = 2 * time.Second

// refresh reloads k in the background (sharing a trip with any concurrent
// miss), so that a key in steady use is not dropped at the end of its TTL
// and its next request does not wait for the store. The entry being
// refreshed keeps answering until its own deadline: a reload that fails
// leaves it to expire as it would have.
func (c *core[K, S, V, E]) refresh(k K) {
	c.refreshes.Inc()
	c.refreshing.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		_, _, _ = c.group.Do(c.flight(k), func() (any, error) {
			v, seq, err := c.loadAndStore(ctx, k)
			return flightResult[V]{v: v, seq: seq}, err
		})
	})
}

// lifetime is how long an answer loaded at start may be used (the TTL, or
// its own end of life when that comes first) and when a hit should reload
// it: at three quarters of the TTL plus up to an eighth of jitter, so that
// entries loaded together are not reloaded together. An answer that ends
// before its TTL is not reloaded: it is about to die anyway.
//
// While the change feed is up the TTL is FeedLifetime times longer (and
// long says so): the feed keeps the entry right (see Feed).
func (c *core[K, S, V, E]) lifetime(start time.Time, v V) (deadline, refreshAt time.Time, long bool) {
	ttl := c.ttl
	if c.feed.Up() {
		ttl, long = ttl*FeedLifetime, true
	}
	deadline = start.Add(ttl)
	if end, ok := c.expires(v); ok && end.Before(deadline) {
		return end, time.Time{}, long
	}
	return deadline, start.Add(ttl*3/4 + rand.N(ttl/8+1)), long
}

// flightResult is what one collapsed store trip hands to every caller.
type flightResult[V any] struct {
	v   V
	seq uint64 // the shard's invalidation sequence when the trip started
}

// maxCollapse bounds how often a caller joins a flight that turned out to
// predate an invalidation before it goes to the store on its own.
const maxCollapse = 2

// fill answers k from the store: concurrent misses of one key share one
// trip. A caller that saw an invalidation the trip it joined predates does
// not take that trip's answer; it starts a new one.
func (c *core[K, S, V, E]) fill(ctx context.Context, k K) (V, error) {
	c.misses.Inc()
	key := c.flight(k)
	for range maxCollapse {
		mine := c.lru.seq(c.key(k))
		ch := c.group.DoChan(key, func() (any, error) {
			// The trip serves every caller that joins it: one caller
			// going away must not fail the others, but the trip keeps the
			// first caller's deadline (the lookup budget of a decision).
			fctx, cancel := detach(ctx)
			defer cancel()
			v, seq, err := c.loadAndStore(fctx, k)
			return flightResult[V]{v: v, seq: seq}, err
		})
		if c.joined != nil {
			c.joined()
		}
		select {
		case r := <-ch:
			f := r.Val.(flightResult[V])
			if f.seq >= mine {
				return f.v, r.Err
			}
			c.group.Forget(key)
		case <-ctx.Done():
			var zero V
			return zero, fmt.Errorf("cache: %w: %w", authz.ErrUnavailable, ctx.Err())
		}
	}
	v, _, err := c.loadAndStore(ctx, k)
	return v, err
}

// loadAndStore goes to the store and caches what may be cached: an answer
// (until the TTL or its own end of life, whichever is first) and a "not
// found" (for the negative TTL). Errors are never cached.
func (c *core[K, S, V, E]) loadAndStore(ctx context.Context, k K) (V, uint64, error) {
	seq := c.lru.seq(c.key(k))
	start := c.now()
	v, err := c.load(ctx, k)
	switch {
	case err == nil:
		if deadline, refreshAt, long := c.lifetime(start, v); start.Before(deadline) {
			c.lru.add(c.retain(c.key(k)), v, false, long, deadline, refreshAt, seq)
		}
	case authz.IsTransient(err):
		// Never cached: the next request asks the store again.
	case errors.Is(err, authz.ErrNotFound) && c.negTTL > 0:
		var zero V
		c.lru.add(c.retain(c.key(k)), zero, true, false, start.Add(c.negTTL), time.Time{}, seq)
	}
	return v, seq, err
}

// store caches v for k after a write through the decorator, unless k's
// shard was invalidated since seq.
func (c *core[K, S, V, E]) store(k K, v V, seq uint64) {
	start := c.now()
	if deadline, refreshAt, long := c.lifetime(start, v); start.Before(deadline) {
		c.lru.add(c.retain(c.key(k)), v, false, long, deadline, refreshAt, seq)
	}
}

// detachTimeout bounds a collapsed trip whose first caller had no deadline.
const detachTimeout = 10 * time.Second

// detach returns a context with ctx's values and deadline but not its
// cancellation.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(detachTimeout)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}
