package server

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cache"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/metrics"
	"github.com/extauthz/extauthz/pkg/ops"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

// caches are the in-process caches of the built-in stores and the change
// feed that invalidates them. They sit outside the metrics decorators, so
// store metrics count only trips that reached the store.
//
// Only PostgreSQL stores are cached: the in-memory store is memory already
// (and is written in-process, where no change feed would see it). An app's
// own SQL profile source is not cached either: its database publishes no
// change feed, so a cache would delay a block there by up to cache_ttl.
type caches struct {
	on       bool
	opts     func(name string) cache.Options
	prof     *cache.Profiles
	sess     *cache.Sessions
	tok      *cache.Tokens
	listener *cache.Listener // nil without a change feed
	budget   *cache.Budget   // cache_memory, shared by every cache
	m        *metrics.Metrics
	// feeds are told the change feed's events besides the caches (the
	// ledger of back-channel logouts).
	feeds []cache.Invalidator
}

// newCaches prepares the caches cfg asks for; the wrapping happens as
// New asks for each store.
func newCaches(cfg config.Config, st *Stores, m *metrics.Metrics, log *slog.Logger, feeds ...cache.Invalidator) *caches {
	if cfg.CacheSize != config.CacheSizeUnset {
		log.Warn("cache_size is deprecated: cache_memory bounds the caches together; cache_size still caps each cache's entries and 0 turns them off",
			"cache_size", cfg.CacheSize, "cache_memory", cfg.CacheMemory.String())
	}
	c := &caches{on: st.pool != nil && cfg.CacheMemory > 0 && cfg.CacheSize != 0, m: m, feeds: feeds}
	if !c.on {
		// No cache to keep right, but the feeds (the back-channel logout
		// ledger) still learn other replicas' changes at once.
		if st.pool != nil && cfg.ChangeFeed && len(feeds) > 0 {
			c.listener = c.newListener(cfg, nil, log)
		}
		return c
	}
	neg := cfg.NegativeCacheTTL
	if neg == 0 {
		neg = -1 // cache.Options: < 0 is off
	}
	c.budget = cache.NewBudget(cacheBudget(int64(cfg.CacheMemory), debug.SetMemoryLimit(-1), log))
	var feed *cache.Feed
	if cfg.ChangeFeed {
		feed = cache.NewFeed()
	}
	c.opts = func(name string) cache.Options {
		return cache.Options{
			Size: max(cfg.CacheSize, 0), Budget: c.budget, Feed: feed, TTL: cfg.CacheTTL, NegativeTTL: neg,
			Hits: m.CacheHits.WithLabelValues(name), Misses: m.CacheMisses.WithLabelValues(name),
			Refreshes: m.CacheRefreshes.WithLabelValues(name),
		}
	}
	if cfg.ChangeFeed {
		c.listener = c.newListener(cfg, feed, log)
	} else {
		log.Warn("change_feed is off: changes made elsewhere reach this replica's caches only within cache_ttl",
			"cache_ttl_seconds", cfg.CacheTTL.Seconds())
	}
	return c
}

// newListener is the change feed, telling c (its caches and feeds) every
// event; feed, when set, learns whether it is up (cache lifetimes).
func (c *caches) newListener(cfg config.Config, feed *cache.Feed, log *slog.Logger) *cache.Listener {
	return cache.NewListener(cache.ListenerConfig{
		DatabaseURL: cfg.DatabaseURL,
		Caches:      []cache.Invalidator{c},
		Log:         log.With("component", "change_feed"),
		Up:          c.m.ListenerUp,
		Feed:        feed,
		Lag:         c.m.InvalidationLag,
	})
}

// profiles caches the built-in profile source (one cache shared by every
// app that uses it).
func (c *caches) profiles(next authz.ProfileSource) authz.ProfileSource {
	if !c.on {
		return next
	}
	if c.prof == nil {
		c.prof = cache.NewProfiles(next, c.opts("profiles"))
		c.m.WatchCache("profiles", c.prof.Len)
	}
	return c.prof
}

// sessions caches the session store.
func (c *caches) sessions(next authz.SessionStore) authz.SessionStore {
	if !c.on {
		return next
	}
	c.sess = cache.NewSessions(next, c.opts("sessions"))
	c.m.WatchCache("sessions", c.sess.Len)
	return c.sess
}

// tokens caches the access token store.
func (c *caches) tokens(next authz.AccessTokenStore) authz.AccessTokenStore {
	if !c.on {
		return next
	}
	c.tok = cache.NewTokens(next, c.opts("tokens"))
	c.m.WatchCache("tokens", c.tok.Len)
	return c.tok
}

// Invalidate implements cache.Invalidator for the listener.
func (c *caches) Invalidate(ev notify.Event) {
	for _, x := range c.each() {
		x.Invalidate(ev)
	}
	for _, f := range c.feeds {
		f.Invalidate(ev)
	}
}

// Purge implements cache.Invalidator for the listener.
func (c *caches) Purge() {
	for _, x := range c.each() {
		x.Purge()
	}
	for _, f := range c.feeds {
		f.Purge()
	}
}

// oneCache is what the caches have in common for the listener and the
// sweep.
type oneCache interface {
	cache.Invalidator
	cache.Sweeper
}

func (c *caches) each() []oneCache {
	var out []oneCache
	if c.prof != nil {
		out = append(out, c.prof)
	}
	if c.sess != nil {
		out = append(out, c.sess)
	}
	if c.tok != nil {
		out = append(out, c.tok)
	}
	return out
}

// checks are the readiness checks of the caches: the change feed, reported
// but optional (without it the caches fall back to their TTL).
func (c *caches) checks() []ops.Check {
	if c.listener == nil {
		return nil
	}
	return []ops.Check{{Name: "change_feed", Fn: c.listener.Ready, Optional: true}}
}

// cacheBudget is cache_memory, or half the Go memory limit when one is
// set (GOMEMLIMIT, which the Kubernetes manifests derive from the
// container's limit) and that is less: the caches must leave room for
// everything else, or the collector would run without pause and the
// container be killed.
func cacheBudget(configured, goLimit int64, log *slog.Logger) int64 {
	if goLimit == math.MaxInt64 || configured <= goLimit/2 {
		return configured
	}
	log.Warn("cache_memory is more than half the Go memory limit (GOMEMLIMIT): the caches use half of it",
		"cache_memory_bytes", configured, "memory_limit_bytes", goLimit, "cache_budget_bytes", goLimit/2)
	return goLimit / 2
}

// memoryHeadroom is the room above cache_memory that the Go soft memory
// limit leaves for everything else a replica holds (requests in flight,
// buffers, the runtime).
const memoryHeadroom = 128 << 20

// limitMemory sets the Go runtime's soft memory limit to cache_memory plus
// memoryHeadroom, unless the operator set one (GOMEMLIMIT). The caches are
// most of a busy replica's heap and give the collector nothing to trace
// (pkg/cache), so collecting more often near the limit is cheap, while
// the collector's default headroom (the heap may grow to twice what is
// live) would double their memory.
func (c *caches) limitMemory(getenv func(string) string, log *slog.Logger) {
	if !c.on || getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := c.budget.Limit() + memoryHeadroom // no GOMEMLIMIT: the budget is cache_memory
	debug.SetMemoryLimit(limit)
	log.Info("Go soft memory limit set from cache_memory", "limit_bytes", limit)
}

// run starts the change feed in g until ctx ends.
func (c *caches) run(ctx context.Context, g *errgroup.Group) {
	if c.listener != nil {
		g.Go(func() error { return c.listener.Run(ctx) })
	}
	if c.on {
		g.Go(func() error { every(ctx, sweepEvery, c.sweep); return nil })
	}
}

// sweepEvery is how often expired entries are swept out of the caches.
const sweepEvery = 10 * time.Second

// sweep drops the caches' expired entries.
func (c *caches) sweep(context.Context) {
	for _, x := range c.each() {
		x.Sweep()
	}
}
