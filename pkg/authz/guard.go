package authz

import (
	"sync"
	"time"
)

// FlushGuard remembers recent flushes so that a cookie which does not go away
// (wrong Domain or Path in the app's configuration) ends in a clear 500 page
// instead of a redirect loop. Entries are per replica and short-lived.
type FlushGuard interface {
	// Seen records key at now and reports whether it was already recorded
	// within window.
	Seen(key string, now time.Time, window time.Duration) bool
}

// MemoryGuard is a bounded in-memory FlushGuard.
type MemoryGuard struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
}

// NewMemoryGuard returns a guard holding at most max keys (oldest evicted
// first when full; expired entries are swept on insert).
func NewMemoryGuard(max int) *MemoryGuard {
	if max <= 0 {
		max = 10000
	}
	return &MemoryGuard{max: max, seen: make(map[string]time.Time)}
}

// Seen implements FlushGuard.
func (g *MemoryGuard) Seen(key string, now time.Time, window time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.seen[key]; ok && now.Sub(t) < window {
		return true
	}
	if len(g.seen) >= g.max {
		var oldestK string
		var oldest time.Time
		for k, t := range g.seen {
			if now.Sub(t) >= window {
				delete(g.seen, k)
				continue
			}
			if oldestK == "" || t.Before(oldest) {
				oldestK, oldest = k, t
			}
		}
		if len(g.seen) >= g.max {
			delete(g.seen, oldestK)
		}
	}
	g.seen[key] = now
	return false
}
