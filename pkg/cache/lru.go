package cache

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// lru is a bounded map with a per-entry deadline, split into shards so that
// concurrent hits on different keys rarely meet on one lock. Each shard is an
// exact LRU of its share of the entry bound; a byte Budget shared with other
// caches bounds them all together (see budget.go).
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
// the map entirely), and deadlines are plain integers. A codec lays each
// value out in its node: the session codec keeps no pointer at all (its
// strings sit in the shard's arena, times are integers), so a million
// cached sessions are a few dozen pointer-free objects to the collector
// (BenchmarkGCFullCache).
type lru[K comparable, V, E any] struct {
	shards []shard[K, E]
	mask   uint64
	hash   func(K) uint64
	codec  codec[K, V, E]
	epoch  time.Time // instants are kept as nanoseconds since epoch (monotonic when the clock is)
	budget *Budget   // nil: bounded by entries only
	feed   *Feed     // nil: no long-lived entries
	ttl    time.Duration
	held   atomic.Int64
	victim atomic.Uint32 // the shard evictOne tries first
}

type shard[K comparable, E any] struct {
	seq   atomic.Uint64
	mu    sync.Mutex
	m     map[K]int32  // key → index in nodes
	nodes []node[K, E] // nodes[0] is the sentinel of the recency list
	free  []int32      // indexes of unused nodes
	arena arena        // the variable part of entries, for codecs that use it
	cap   int          // entries; 0: no bound but the budget
	_     [64]byte     // keep neighbouring shards' locks off one cache line
}

type node[K comparable, E any] struct {
	key        K
	val        E
	neg        bool  // a cached "not found"
	long       bool  // loaded while the change feed was up (see Feed)
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

// newLRU returns a cache of at most size entries (size <= 0: no entry
// bound, budget bounds it) drawing on budget (nil: none).
func newLRU[K comparable, V, E any](size int, hash func(K) uint64, epoch time.Time, cd codec[K, V, E], budget *Budget) *lru[K, V, E] {
	n := maxShards
	if size > 0 {
		n = 1
		for n < maxShards && n*2*entriesPerShard <= size {
			n *= 2
		}
	}
	c := &lru[K, V, E]{shards: make([]shard[K, E], n), mask: uint64(n - 1), hash: hash, codec: cd, epoch: epoch, budget: budget}
	per := 0
	if size > 0 {
		per = (size + n - 1) / n
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[K]int32)
		s.nodes = make([]node[K, E], 1, initialSlab+1)
		s.cap = per
	}
	if budget != nil {
		budget.join(c)
	}
	return c
}

func (c *lru[K, V, E]) shard(k K) *shard[K, E] { return &c.shards[c.hash(k)&c.mask] }

// instant is t as nanoseconds since the cache's epoch; the zero time is
// never.
func (c *lru[K, V, E]) instant(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return int64(t.Sub(c.epoch))
}

// cost is what node i holds in memory: the node, a map slot (key and
// index, at the map's typical load) and what its codec keeps beside it.
func (c *lru[K, V, E]) cost(s *shard[K, E], i int32) int64 {
	n := &s.nodes[i]
	var zero node[K, E]
	slot := (unsafe.Sizeof(n.key) + 4) * 3 / 2
	return int64(unsafe.Sizeof(zero)+slot) + int64(c.codec.extra(n.key, &n.val))
}

// get returns the live entry for k. A dead entry is dropped on the way.
// due reports that the entry is past its refresh instant; the caller that
// sees it first (and only that one) is told, so one background reload runs
// per entry.
func (c *lru[K, V, E]) get(k K, now time.Time) (v V, neg, due, ok bool) {
	s := c.shard(k)
	t := c.instant(now)
	s.mu.Lock()
	i, found := s.m[k]
	if !found {
		s.mu.Unlock()
		return v, false, false, false
	}
	n := &s.nodes[i]
	if t >= n.deadline || (n.long && c.feed.stale(now.UnixNano(), c.ttl)) {
		c.drop(s, i)
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
	neg = n.neg
	if !neg {
		v = c.codec.decode(&s.arena, k, &n.val)
	}
	s.mu.Unlock()
	return v, neg, due, true
}

// seq returns k's shard invalidation sequence, for a later add.
func (c *lru[K, V, E]) seq(k K) uint64 { return c.shard(k).seq.Load() }

// add stores an entry for k unless its shard was invalidated since seq was
// read (or the codec cannot lay v out), and reports whether it did. long
// marks an entry loaded while the change feed was up. The
// least recently used entry of the shard makes room; beyond the budget,
// the budget's victims do.
func (c *lru[K, V, E]) add(k K, v V, neg, long bool, deadline, refreshAt time.Time, seq uint64) bool {
	s := c.shard(k)
	s.mu.Lock()
	if s.seq.Load() != seq {
		s.mu.Unlock()
		return false
	}
	var val E
	if !neg {
		var ok bool
		if val, ok = c.codec.encode(&s.arena, k, v); !ok {
			s.mu.Unlock()
			return false
		}
	}
	if i, found := s.m[k]; found {
		c.drop(s, i)
	} else if s.cap > 0 && len(s.m) >= s.cap {
		c.drop(s, s.nodes[0].prev) // the least recently used
	}
	i := s.alloc()
	s.m[k] = i
	n := &s.nodes[i]
	n.key, n.val, n.neg, n.long = k, val, neg, long
	n.deadline, n.refreshAt = c.instant(deadline), c.instant(refreshAt)
	s.pushFront(i)
	c.charge(c.cost(s, i))
	c.compact(s)
	s.mu.Unlock()
	if c.budget != nil {
		c.budget.reclaim()
	}
	return true
}

// charge counts delta bytes held, here and in the budget.
func (c *lru[K, V, E]) charge(delta int64) {
	c.held.Add(delta)
	if c.budget != nil {
		c.budget.used.Add(delta)
	}
}

// update rewrites the value of a live entry in place (a write through the
// decorator whose result is known); it inserts nothing. fn returning false
// drops the entry. fn must not change what the entry holds in the arena.
func (c *lru[K, V, E]) update(k K, fn func(*E) bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.m[k]
	if !found || s.nodes[i].neg {
		return
	}
	if !fn(&s.nodes[i].val) {
		c.drop(s, i)
	}
}

// remove drops k and invalidates its shard.
func (c *lru[K, V, E]) remove(k K) {
	s := c.shard(k)
	s.mu.Lock()
	s.seq.Add(1)
	if i, found := s.m[k]; found {
		c.drop(s, i)
	}
	s.mu.Unlock()
}

// removeIf drops every entry pred selects, invalidating every shard. It
// walks the whole cache: for rare events only.
func (c *lru[K, V, E]) removeIf(pred func(K, V) bool) int {
	dropped := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		for _, j := range s.m {
			if n := &s.nodes[j]; !n.neg && pred(n.key, c.codec.decode(&s.arena, n.key, &n.val)) {
				c.drop(s, j)
				dropped++
			}
		}
		c.compact(s)
		s.mu.Unlock()
	}
	return dropped
}

// sweep drops the entries dead at now, one shard (one lock) at a time, and
// returns how many. Dead entries are otherwise dropped only when looked up
// or evicted; a burst of unknown emails or a wave of expired sessions
// would keep their memory, and the collector's work, until then. It does
// not invalidate: it removes only what no lookup may return.
func (c *lru[K, V, E]) sweep(now time.Time) int {
	t := c.instant(now)
	dropped := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, j := range s.m {
			if t >= s.nodes[j].deadline {
				c.drop(s, j)
				dropped++
			}
		}
		c.compact(s)
		s.mu.Unlock()
	}
	return dropped
}

// purge drops everything and invalidates every shard.
func (c *lru[K, V, E]) purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		var held int64
		for _, j := range s.m {
			held += c.cost(s, j)
		}
		c.charge(-held)
		clear(s.m)
		clear(s.nodes) // let the values go
		s.nodes = s.nodes[:1]
		s.free = s.free[:0]
		s.arena = arena{}
		s.mu.Unlock()
	}
}

// len counts the entries, dead ones not yet dropped included.
func (c *lru[K, V, E]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// heldBytes is what the cache's entries hold (see cost).
func (c *lru[K, V, E]) heldBytes() int64 { return c.held.Load() }

// evictOne drops the least recently used entry of one shard, taking the
// shards in turn, and reports whether there was one to drop.
func (c *lru[K, V, E]) evictOne() bool {
	start := c.victim.Add(1)
	for j := range uint32(len(c.shards)) {
		s := &c.shards[uint64(start+j)&c.mask]
		s.mu.Lock()
		if tail := s.nodes[0].prev; tail != 0 {
			c.drop(s, tail)
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
	}
	return false
}

// drop unlinks node i of s, removes its key, frees it and its arena bytes.
func (c *lru[K, V, E]) drop(s *shard[K, E], i int32) {
	c.charge(-c.cost(s, i))
	n := &s.nodes[i]
	s.arena.dead += c.codec.arenaBytes(&n.val)
	s.unlink(i)
	delete(s.m, n.key)
	*n = node[K, E]{} // let the value go
	s.free = append(s.free, i)
}

// compact rewrites s's arena when most of it is dead (see arena).
func (c *lru[K, V, E]) compact(s *shard[K, E]) {
	if !s.arena.wasteful() {
		return
	}
	old := s.arena.b
	s.arena = arena{b: make([]byte, 0, (len(old)-s.arena.dead)*5/4)}
	for _, j := range s.m {
		c.codec.move(old, &s.arena, &s.nodes[j].val)
	}
}

// alloc returns the index of an unused node: a freed one, or a new one at
// the end of the slab.
func (s *shard[K, E]) alloc() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	s.nodes = append(s.nodes, node[K, E]{})
	return int32(len(s.nodes) - 1)
}

func (s *shard[K, E]) unlink(i int32) {
	n := &s.nodes[i]
	s.nodes[n.prev].next, s.nodes[n.next].prev = n.next, n.prev
	n.prev, n.next = 0, 0
}

func (s *shard[K, E]) pushFront(i int32) {
	root := &s.nodes[0]
	n := &s.nodes[i]
	n.prev, n.next = 0, root.next
	s.nodes[root.next].prev = i
	root.next = i
}
