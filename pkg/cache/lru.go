package cache

import (
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
type lru[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64
	hash   func(K) uint64
}

type shard[K comparable, V any] struct {
	seq  atomic.Uint64
	mu   sync.Mutex
	m    map[K]*node[K, V]
	root node[K, V] // sentinel of the recency list; root.next is the newest
	cap  int
	_    [64]byte // keep neighbouring shards' locks off one cache line
}

type node[K comparable, V any] struct {
	key        K
	val        V
	neg        bool      // a cached "not found"
	deadline   time.Time // the entry is dead from this instant on
	refreshAt  time.Time // a hit from this instant on reloads it in the background (zero: never)
	prev, next *node[K, V]
}

// entriesPerShard keeps small caches in one shard, so that their bound is an
// exact LRU bound.
const entriesPerShard = 256

// maxShards bounds the split; beyond it lock contention is not the problem.
const maxShards = 64

func newLRU[K comparable, V any](size int, hash func(K) uint64) *lru[K, V] {
	n := 1
	for n < maxShards && n*2*entriesPerShard <= size {
		n *= 2
	}
	c := &lru[K, V]{shards: make([]shard[K, V], n), mask: uint64(n - 1), hash: hash}
	per := (size + n - 1) / n
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[K]*node[K, V])
		s.root.next, s.root.prev = &s.root, &s.root
		s.cap = per
	}
	return c
}

func (c *lru[K, V]) shard(k K) *shard[K, V] { return &c.shards[c.hash(k)&c.mask] }

// get returns the live entry for k. A dead entry is dropped on the way.
// due reports that the entry is past its refresh instant; the caller that
// sees it first (and only that one) is told, so one background reload runs
// per entry.
func (c *lru[K, V]) get(k K, now time.Time) (v V, neg, due, ok bool) {
	s := c.shard(k)
	s.mu.Lock()
	n := s.m[k]
	if n == nil {
		s.mu.Unlock()
		return v, false, false, false
	}
	if !now.Before(n.deadline) {
		s.unlink(n)
		delete(s.m, k)
		s.mu.Unlock()
		return v, false, false, false
	}
	if s.root.next != n {
		s.unlink(n)
		s.pushFront(n)
	}
	if !n.refreshAt.IsZero() && !now.Before(n.refreshAt) {
		n.refreshAt, due = time.Time{}, true
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
	if n := s.m[k]; n != nil {
		n.val, n.neg, n.deadline, n.refreshAt = v, neg, deadline, refreshAt
		s.unlink(n)
		s.pushFront(n)
		return true
	}
	var n *node[K, V]
	if len(s.m) >= s.cap {
		n = s.root.prev // reuse the evicted node: no allocation at capacity
		s.unlink(n)
		delete(s.m, n.key)
		*n = node[K, V]{}
	} else {
		n = new(node[K, V])
	}
	n.key, n.val, n.neg, n.deadline, n.refreshAt = k, v, neg, deadline, refreshAt
	s.m[k] = n
	s.pushFront(n)
	return true
}

// update rewrites the value of a live entry in place (a write through the
// decorator whose result is known); it inserts nothing.
func (c *lru[K, V]) update(k K, fn func(*V, *time.Time) bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.m[k]
	if n == nil || n.neg {
		return
	}
	if !fn(&n.val, &n.deadline) {
		s.unlink(n)
		delete(s.m, k)
	}
}

// remove drops k and invalidates its shard.
func (c *lru[K, V]) remove(k K) {
	s := c.shard(k)
	s.mu.Lock()
	s.seq.Add(1)
	if n := s.m[k]; n != nil {
		s.unlink(n)
		delete(s.m, k)
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
		for k, n := range s.m {
			if !n.neg && pred(k, n.val) {
				s.unlink(n)
				delete(s.m, k)
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
		s.root.next, s.root.prev = &s.root, &s.root
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

func (s *shard[K, V]) unlink(n *node[K, V]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (s *shard[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = &s.root, s.root.next
	s.root.next.prev = n
	s.root.next = n
}
