package cache

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// lru is a bounded map with a per-entry deadline, split into shards so that
// concurrent hits on different keys rarely meet on one lock. Each shard is an
// exact LRU of its share of the capacity.
//
// Every shard carries an invalidation sequence, bumped by remove, removeIf
// and purge. A loader reads it before going to the store and passes it to
// add, which refuses to insert if an invalidation touched the shard in
// between: an answer read before a change committed can never be cached
// after the change's eviction ran.
//
// The layout is for the garbage collector, which traces a full cache on
// every cycle while requests run: a shard's entries live in one slab (a
// slice of nodes, linked by index, not by pointer), its map holds indexes
// (for a key without pointers, such as a token hash, the collector skips
// the map entirely), and deadlines are plain integers. Tracing a cache of
// 100,000 sessions is then a walk over a few large objects instead of
// hundreds of thousands of small ones (BenchmarkGCFullCache).
type lru[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64
	hash   func(K) uint64
	epoch  time.Time // instants are kept as nanoseconds since epoch (monotonic when the clock is)
}

type shard[K comparable, V any] struct {
	seq   atomic.Uint64
	mu    sync.Mutex
	m     map[K]int32  // key → index in nodes
	nodes []node[K, V] // nodes[0] is the sentinel of the recency list
	free  []int32      // indexes of unused nodes
	cap   int
	_     [64]byte // keep neighbouring shards' locks off one cache line
}

type node[K comparable, V any] struct {
	key        K
	val        V
	neg        bool  // a cached "not found"
	deadline   int64 // the entry is dead from this instant on
	refreshAt  int64 // a hit from this instant on reloads it in the background (never: math.MaxInt64)
	prev, next int32 // recency list; nodes[0].next is the newest
}

// entriesPerShard keeps small caches in one shard, so that their bound is an
// exact LRU bound.
const entriesPerShard = 256

// maxShards bounds the split; beyond it lock contention is not the problem.
const maxShards = 64

// initialSlab is the room a shard starts with; the slab grows with use up
// to the shard's bound (a cache of 100,000 sessions that holds a few
// thousand costs a few thousand nodes).
const initialSlab = 16

func newLRU[K comparable, V any](size int, hash func(K) uint64, epoch time.Time) *lru[K, V] {
	n := 1
	for n < maxShards && n*2*entriesPerShard <= size {
		n *= 2
	}
	c := &lru[K, V]{shards: make([]shard[K, V], n), mask: uint64(n - 1), hash: hash, epoch: epoch}
	per := (size + n - 1) / n
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[K]int32)
		s.nodes = make([]node[K, V], 1, min(per, initialSlab)+1)
		s.cap = per
	}
	return c
}

func (c *lru[K, V]) shard(k K) *shard[K, V] { return &c.shards[c.hash(k)&c.mask] }

// instant is t as nanoseconds since the cache's epoch; the zero time is
// never.
func (c *lru[K, V]) instant(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return int64(t.Sub(c.epoch))
}

// get returns the live entry for k. A dead entry is dropped on the way.
// due reports that the entry is past its refresh instant; the caller that
// sees it first (and only that one) is told, so one background reload runs
// per entry.
func (c *lru[K, V]) get(k K, now time.Time) (v V, neg, due, ok bool) {
	s := c.shard(k)
	t := c.instant(now)
	s.mu.Lock()
	i, found := s.m[k]
	if !found {
		s.mu.Unlock()
		return v, false, false, false
	}
	n := &s.nodes[i]
	if t >= n.deadline {
		s.drop(i)
		s.mu.Unlock()
		return v, false, false, false
	}
	if s.nodes[0].next != i {
		s.unlink(i)
		s.pushFront(i)
	}
	if t >= n.refreshAt {
		n.refreshAt, due = math.MaxInt64, true
	}
	v, neg = n.val, n.neg
	s.mu.Unlock()
	return v, neg, due, true
}

// seq returns k's shard invalidation sequence, for a later add.
func (c *lru[K, V]) seq(k K) uint64 { return c.shard(k).seq.Load() }

// add stores an entry for k unless its shard was invalidated since seq was
// read, and reports whether it did. The least recently used entry of the
// shard makes room.
func (c *lru[K, V]) add(k K, v V, neg bool, deadline, refreshAt time.Time, seq uint64) bool {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq.Load() != seq {
		return false
	}
	i, found := s.m[k]
	if found {
		s.unlink(i)
	} else {
		if len(s.m) >= s.cap {
			s.drop(s.nodes[0].prev) // the least recently used
		}
		i = s.alloc()
		s.m[k] = i
	}
	n := &s.nodes[i]
	n.key, n.val, n.neg = k, v, neg
	n.deadline, n.refreshAt = c.instant(deadline), c.instant(refreshAt)
	s.pushFront(i)
	return true
}

// update rewrites the value of a live entry in place (a write through the
// decorator whose result is known); it inserts nothing. fn returning false
// drops the entry.
func (c *lru[K, V]) update(k K, fn func(*V) bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.m[k]
	if !found || s.nodes[i].neg {
		return
	}
	if !fn(&s.nodes[i].val) {
		s.drop(i)
	}
}

// remove drops k and invalidates its shard.
func (c *lru[K, V]) remove(k K) {
	s := c.shard(k)
	s.mu.Lock()
	s.seq.Add(1)
	if i, found := s.m[k]; found {
		s.drop(i)
	}
	s.mu.Unlock()
}

// removeIf drops every entry pred selects, invalidating every shard. It
// walks the whole cache: for rare events only.
func (c *lru[K, V]) removeIf(pred func(K, V) bool) int {
	dropped := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		for _, j := range s.m {
			if n := &s.nodes[j]; !n.neg && pred(n.key, n.val) {
				s.drop(j)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// sweep drops the entries dead at now, one shard (one lock) at a time, and
// returns how many. Dead entries are otherwise dropped only when looked up
// or evicted; a burst of unknown emails or a wave of expired sessions
// would keep their memory, and the collector's work, until then. It does
// not invalidate: it removes only what no lookup may return.
func (c *lru[K, V]) sweep(now time.Time) int {
	t := c.instant(now)
	dropped := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, j := range s.m {
			if t >= s.nodes[j].deadline {
				s.drop(j)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// purge drops everything and invalidates every shard.
func (c *lru[K, V]) purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		clear(s.m)
		clear(s.nodes) // let the values go
		s.nodes = s.nodes[:1]
		s.free = s.free[:0]
		s.mu.Unlock()
	}
}

// len counts the entries, dead ones not yet dropped included.
func (c *lru[K, V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// alloc returns the index of an unused node: a freed one, or a new one at
// the end of the slab.
func (s *shard[K, V]) alloc() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	s.nodes = append(s.nodes, node[K, V]{})
	return int32(len(s.nodes) - 1)
}

// drop unlinks node i, removes its key and frees it.
func (s *shard[K, V]) drop(i int32) {
	s.unlink(i)
	delete(s.m, s.nodes[i].key)
	s.nodes[i] = node[K, V]{} // let the value go
	s.free = append(s.free, i)
}

func (s *shard[K, V]) unlink(i int32) {
	n := &s.nodes[i]
	s.nodes[n.prev].next, s.nodes[n.next].prev = n.next, n.prev
	n.prev, n.next = 0, 0
}

func (s *shard[K, V]) pushFront(i int32) {
	root := &s.nodes[0]
	n := &s.nodes[i]
	n.prev, n.next = 0, root.next
	s.nodes[root.next].prev = i
	root.next = i
}
