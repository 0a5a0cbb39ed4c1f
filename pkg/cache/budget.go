package cache

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Budget is one memory bound, in bytes, shared by several caches
// (cache_memory). An entry is charged what it holds (its node, a map
// slot, its strings; see lru.cost) to its cache and to the budget. When an
// insert takes the budget over its limit, entries are evicted until it is
// back under: each eviction takes the least recently used entry of one
// shard of a cache chosen with a probability proportional to the bytes it
// holds. A cache that keeps inserting therefore grows at the expense of the
// others in proportion to what they hold, and a cache nobody uses shrinks
// towards nothing.
type Budget struct {
	limit   int64
	used    atomic.Int64
	mu      sync.Mutex
	members atomic.Pointer[[]member]
}

// member is a cache drawing on a Budget.
type member interface {
	heldBytes() int64
	evictOne() bool
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used is what the caches drawing on b hold, in bytes.
func (b *Budget) Used() int64 { return b.used.Load() }

// Limit is b's bound in bytes.
func (b *Budget) Limit() int64 { return b.limit }

func (b *Budget) join(m member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ms []member
	if p := b.members.Load(); p != nil {
		ms = append(ms, *p...)
	}
	ms = append(ms, m)
	b.members.Store(&ms)
}

// maxReclaim bounds the evictions one insert makes; concurrent inserts
// share the work.
const maxReclaim = 16

// reclaim evicts until b is within its limit.
func (b *Budget) reclaim() {
	for range maxReclaim {
		if b.used.Load() <= b.limit {
			return
		}
		m := b.victim()
		if m == nil || !m.evictOne() {
			return
		}
	}
}

// victim picks a member with a probability proportional to what it holds.
func (b *Budget) victim() member {
	p := b.members.Load()
	if p == nil {
		return nil
	}
	var total int64
	for _, m := range *p {
		total += max(m.heldBytes(), 0)
	}
	if total <= 0 {
		return nil
	}
	r := rand.Int64N(total)
	for _, m := range *p {
		if r -= max(m.heldBytes(), 0); r < 0 {
			return m
		}
	}
	return (*p)[len(*p)-1]
}
