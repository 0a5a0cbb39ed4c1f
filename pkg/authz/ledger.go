package authz

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// MaxHops bounds the redirect hops one replica sends for the same request
// shape (same presented binding, identity and native cookie values). A
// browser follows a 302 at once, so a browser that refuses the cookies it is
// given comes back with exactly the cookies it had, again and again; the
// hop after MaxHops is the 500 flush_failed page instead. The count uses no
// clock: requests a browser sent in parallel before the first answer
// arrived count too, and MaxHops is far above the handful of page loads a
// browser has in flight for one host, and below the redirect limit of
// browsers (16 in Safari, 20 in Chrome and Firefox). Only page loads count:
// an API request that gets the 401 JSON hop is not followed automatically
// and cannot loop.
const MaxHops = 10

// rekeyRecord is a session a re-key wrote, kept so that repeats of the same
// request get the same answer.
type rekeyRecord struct {
	token  cookie.Token
	next   Session
	reason Reason
	at     time.Time
}

type hopEntry struct {
	key     string
	hops    int           // page-load hops sent for this key
	rec     *rekeyRecord  // the re-key written for this key, while replayable
	pending chan struct{} // closed when the request writing rec is done
	elem    *list.Element
}

// HopLedger is the loop guard's memory: per replica, bounded, no clock in
// its verdicts. For each request shape that ended in a cookie-changing hop
// it remembers the re-key written (so that parallel requests of one
// identity change all get the same Set-Cookie, and only one session row is
// written) and how many page-load hops it has sent (so that a browser that
// never keeps its cookies ends on a clear page rather than in a redirect
// loop). Entries are recorded only after the store writes of the outcome
// succeeded.
type HopLedger struct {
	mu      sync.Mutex
	max     int
	entries map[string]*hopEntry
	order   *list.List // oldest first
	open    atomic.Int64
}

// NewHopLedger returns a ledger holding at most max request shapes (oldest
// evicted first); max 0 means 10000. A negative max gives a ledger that
// remembers nothing, for dry runs that must not see each other.
func NewHopLedger(max int) *HopLedger {
	if max == 0 {
		max = 10000
	}
	return &HopLedger{max: max, entries: make(map[string]*hopEntry), order: list.New()}
}

// entry returns the entry for key, creating it (and evicting the oldest) if
// needed. The caller holds mu.
func (l *HopLedger) entry(key string) *hopEntry {
	if e, ok := l.entries[key]; ok {
		return e
	}
	for len(l.entries) >= l.max {
		oldest := l.order.Front().Value.(*hopEntry)
		if oldest.pending != nil {
			close(oldest.pending)
		}
		l.remove(oldest)
	}
	e := &hopEntry{key: key}
	e.elem = l.order.PushBack(e)
	l.entries[key] = e
	l.open.Store(int64(len(l.entries)))
	return e
}

func (l *HopLedger) remove(e *hopEntry) {
	l.order.Remove(e.elem)
	delete(l.entries, e.key)
	l.open.Store(int64(len(l.entries)))
}

// claim returns the re-key recorded for key if it was written within window
// of now. Otherwise it marks key as being written and returns the claim:
// the caller must then call finish with the record it wrote, or nil when
// the write failed. While another request writes key, claim waits for it.
// When ctx ends first it returns neither: the caller writes on its own.
func (l *HopLedger) claim(ctx context.Context, key string, now time.Time, window time.Duration) (rec *rekeyRecord, owned *hopEntry) {
	if l.max < 0 {
		return nil, nil
	}
	for {
		l.mu.Lock()
		e := l.entry(key)
		if e.pending == nil {
			if r := e.rec; r != nil && !now.Before(r.at) && now.Sub(r.at) < window {
				l.mu.Unlock()
				return r, nil
			}
			e.rec = nil // a token is kept no longer than the window
			e.pending = make(chan struct{})
			l.mu.Unlock()
			return nil, e
		}
		wait := e.pending
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// finish ends a claim: rec is the re-key written, nil when the write
// failed (nothing is remembered then).
func (l *HopLedger) finish(e *hopEntry, rec *rekeyRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries[e.key] != e || e.pending == nil {
		return // evicted meanwhile
	}
	close(e.pending)
	e.pending, e.rec = nil, rec
	if rec == nil && e.hops == 0 {
		l.remove(e)
	}
}

// hop counts one page-load hop sent for key and returns the count so far.
func (l *HopLedger) hop(key string) int {
	if l.max < 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key)
	e.hops++
	return e.hops
}

// empty reports whether the ledger holds nothing (no lock taken).
func (l *HopLedger) empty() bool { return l.open.Load() == 0 }

// settle forgets key: the browser came back with what the hop gave it.
func (l *HopLedger) settle(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok && e.pending == nil {
		l.remove(e)
	}
}
