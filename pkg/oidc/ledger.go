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
// Each replica holds all of them in memory; the change feed adds those
// other replicas record, and a reload replaces them after the feed was
// down. It is safe for concurrent use.
type Ledger struct {
	mu   sync.RWMutex
	sids map[sidKey]time.Time // until
	subs map[subKey]Logout
	now  func() time.Time
}

// NewLedger returns an empty ledger; now nil is time.Now.
func NewLedger(now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{sids: map[sidKey]time.Time{}, subs: map[subKey]Logout{}, now: now}
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
		return // a sid names the session: the subject's other sessions stay
	}
	k := subKey{lo.Issuer, lo.Subject}
	if old, ok := l.subs[k]; !ok || lo.At.After(old.At) {
		l.subs[k] = lo
	}
}

// Replace makes the ledger hold exactly all.
func (l *Ledger) Replace(all []Logout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.sids)
	clear(l.subs)
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
	lo, ok := l.subs[subKey{iss, sub}]
	return ok && sub != "" && !iat.After(lo.At)
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
	for k, lo := range l.subs {
		if now.After(lo.Until) {
			delete(l.subs, k)
			n++
		}
	}
	return n
}

// Len is how many logouts the ledger holds.
func (l *Ledger) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.sids) + len(l.subs)
}
