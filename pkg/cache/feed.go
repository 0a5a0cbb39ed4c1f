package cache

import (
	"sync/atomic"
	"time"
)

// Feed is the change feed's state as the caches see it. While the feed is
// connected every change reaches the caches within milliseconds, so the
// TTL is only the fallback for when it is not (DESIGN.md §6): an entry
// loaded while the feed is up lives FeedLifetime TTLs (bounded by its own
// end of life), which is what lets a cache hold a million sessions that
// are each seen once a minute. Once the feed is down, such an entry is
// used for at most one TTL after the feed was last known to deliver, as
// if it had been loaded then; entries loaded while it is down get the
// plain TTL. The Listener purges every cache when it connects again.
type Feed struct {
	up       atomic.Bool
	lastSeen atomic.Int64 // Unix nanoseconds: the feed was last known to deliver
}

// FeedLifetime is how many TTLs an entry loaded while the feed is up may
// live.
const FeedLifetime = 20

// NewFeed returns a feed that is down until its Listener connects.
func NewFeed() *Feed { return &Feed{} }

// Up reports whether the feed is connected.
func (f *Feed) Up() bool { return f != nil && f.up.Load() }

// connected records that the feed delivers from now on (after the purge).
func (f *Feed) connected(now time.Time) {
	f.lastSeen.Store(now.UnixNano())
	f.up.Store(true)
}

// alive records that the feed delivered (an event or a ping) at now.
func (f *Feed) alive(now time.Time) { f.lastSeen.Store(now.UnixNano()) }

// lost records that the feed is down.
func (f *Feed) lost() { f.up.Store(false) }

// stale reports whether an entry loaded while the feed was up is past
// use at now (Unix nanoseconds): the feed is down and ttl has passed
// since it last delivered.
func (f *Feed) stale(now int64, ttl time.Duration) bool {
	return !f.up.Load() && now >= f.lastSeen.Load()+int64(ttl)
}
