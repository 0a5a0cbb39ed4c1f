package oidc

import (
	"sync"
	"time"
)

// Logout is one back-channel logout as the ledger keeps it.
type Logout struct {
	Issuer  string
	Subject string    // "" when the logout named only a sid
	SID     string    // "" when it named only a subject
	At      time.Time // the logout token's iat (the issuer's clock)
	// Until is when the entry may be forgotten: no token issued before
	// the logout lives that long.
	Until time.Time
}

// Retention is how long a logout is remembered: identity tokens issued
// before it must have expired by then (issuers give id_tokens minutes to
// hours; none this service accepts should live a day).
const Retention = 24 * time.Hour

type subKey struct{ iss, sub string }

type sidKey struct{ iss, sid string }

// Ledger remembers logouts: a token with a logged-out (iss, sid), or of a
// logged-out (iss, sub) issued at or before the logout, no longer counts.
// A token without a sid cannot be told apart from the session a sid
// logout ended: when that logout also names the subject, the subject's
// tokens without a sid issued at or before it no longer count either.
// Each replica holds all of them in memory; the change feed adds those
// other replicas record, and a reload replaces them after the feed was
// down. It is safe for concurrent use.
type Ledger struct {
	mu   sync.RWMutex
	sids map[sidKey]time.Time // until
	subs map[subKey]Logout
	// sidless: sid logouts that name the subject, for its tokens
	// without a sid.
	sidless map[subKey]Logout
	now     func() time.Time
}

// NewLedger returns an empty ledger; now nil is time.Now.
func NewLedger(now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{sids: map[sidKey]time.Time{}, subs: map[subKey]Logout{}, sidless: map[subKey]Logout{}, now: now}
}

// Add records lo.
func (l *Ledger) Add(lo Logout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(lo)
}

func (l *Ledger) add(lo Logout) {
	if lo.SID != "" {
		k := sidKey{lo.Issuer, lo.SID}
		if lo.Until.After(l.sids[k]) {
			l.sids[k] = lo.Until
		}
		// A sid names the session: the subject's other sessions stay,
		// but for tokens that name no session.
		if lo.Subject != "" {
			latest(l.sidless, lo)
		}
		return
	}
	latest(l.subs, lo)
}

// latest keeps lo in m unless m holds a later logout of its subject.
func latest(m map[subKey]Logout, lo Logout) {
	k := subKey{lo.Issuer, lo.Subject}
	if old, ok := m[k]; !ok || lo.At.After(old.At) {
		m[k] = lo
	}
}

// Replace makes the ledger hold exactly all.
func (l *Ledger) Replace(all []Logout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.sids)
	clear(l.subs)
	clear(l.sidless)
	for _, lo := range all {
		l.add(lo)
	}
}

// LoggedOut reports whether a token of issuer with sub and sid, issued at
// iat, was logged out. A token without iat counts as issued before any
// logout of its subject.
func (l *Ledger) LoggedOut(iss, sub, sid string, iat time.Time) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.sids) == 0 && len(l.subs) == 0 {
		return false
	}
	if sid != "" {
		if _, ok := l.sids[sidKey{iss, sid}]; ok {
			return true
		}
	}
	if sub == "" {
		return false
	}
	k := subKey{iss, sub}
	if lo, ok := l.subs[k]; ok && !iat.After(lo.At) {
		return true
	}
	lo, ok := l.sidless[k]
	return ok && sid == "" && !iat.After(lo.At)
}

// Sweep forgets the logouts whose time is up and returns how many.
func (l *Ledger) Sweep() int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, until := range l.sids {
		if now.After(until) {
			delete(l.sids, k)
			n++
		}
	}
	for _, m := range []map[subKey]Logout{l.subs, l.sidless} {
		for k, lo := range m {
			if now.After(lo.Until) {
				delete(m, k)
				n++
			}
		}
	}
	return n
}

// Len is how many logouts the ledger holds.
func (l *Ledger) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.sids) + len(l.subs) + len(l.sidless)
}
