package cache

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

// Sweeper is a cache whose expired entries can be dropped in one pass.
// A cache drops a dead entry when it is looked up or evicted; sweeping
// every few seconds also frees the ones nobody asks for again (a burst of
// unknown emails, sessions that ended), so that memory and the garbage
// collector's work follow the live entries.
type Sweeper interface{ Sweep() int }

// Invalidator is a cache the change feed keeps honest.
type Invalidator interface {
	// Invalidate drops what ev makes stale; events of other kinds are
	// ignored.
	Invalidate(ev notify.Event)
	// Purge drops everything (the feed may have missed events).
	Purge()
}

var seed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(seed, s) }

// hashToken uses the token hash's own bits: it is a SHA-256 already.
func hashToken(h cookie.Hash) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

func tokenFlight(h cookie.Hash) string { return string(h[:]) }

// tokenKey is what the session cache keeps of a token hash: its first 128
// bits. Two live tokens sharing them by chance is as likely as a random
// 128-bit collision, and presenting a cookie whose hash shares them with
// another's would take a second preimage of SHA-256 truncated to 128
// bits; either way the hash is no less unique than the random token
// behind it needs. The map slot and the node are 32 bytes smaller per
// session for it.
type tokenKey [16]byte

func shortToken(h cookie.Hash) tokenKey { return tokenKey(h[:16]) }

func hashShortToken(k tokenKey) uint64 { return binary.LittleEndian.Uint64(k[:8]) }

func identity(s string) string { return s }

// Profiles caches an authz.ProfileSource by normalised email.
type Profiles struct {
	next authz.ProfileSource
	c    *core[string, string, authz.Profile, authz.Profile]
}

var (
	_ authz.ProfileSource = (*Profiles)(nil)
	_ Invalidator         = (*Profiles)(nil)
)

// NewProfiles returns a cache in front of next.
func NewProfiles(next authz.ProfileSource, o Options) *Profiles {
	return &Profiles{next: next, c: newCore(o, kind[string, string, authz.Profile, authz.Profile]{
		load:    next.LookupProfile,
		key:     identity,
		hash:    hashString,
		flight:  identity,
		expires: func(authz.Profile) (time.Time, bool) { return time.Time{}, false },
		retain:  strings.Clone,
		codec: valueCodec[string, authz.Profile]{retain: retainProfile, keyLen: func(k string) int { return len(k) },
			size: func(p authz.Profile) int { return len(p.ID) + len(p.Email) + len(p.Name) + len(p.RegisteredBy) }},
	})}
}

// LookupProfile implements authz.ProfileSource.
func (p *Profiles) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	return p.c.get(ctx, email)
}

// RegisterProfile implements authz.ProfileSource: it always reaches the
// store, and caches the profile it returns.
func (p *Profiles) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	seq := p.c.lru.seq(email)
	prof, err := p.next.RegisterProfile(ctx, email, name, app)
	if err == nil && prof.Email == email {
		p.c.store(email, prof, seq)
	}
	return prof, err
}

// Invalidate implements Invalidator: a profile event drops its email (or,
// without one, every entry of its id).
func (p *Profiles) Invalidate(ev notify.Event) {
	if ev.Kind != notify.KindProfile {
		return
	}
	if ev.Email != "" {
		p.c.lru.remove(ev.Email)
		return
	}
	id := ev.ID
	p.c.lru.removeIf(func(_ string, v authz.Profile) bool { return v.ID == id })
}

// Purge implements Invalidator.
func (p *Profiles) Purge() { p.c.lru.purge() }

// Sweep drops expired entries and returns how many (see Sweeper).
func (p *Profiles) Sweep() int { return p.c.lru.sweep(p.c.now()) }

// Len is the number of entries held (expired ones not yet dropped included).
func (p *Profiles) Len() int { return p.c.lru.len() }

// Sessions caches an authz.SessionStore by token hash. An entry never
// outlives the session's ExpiresAt.
type Sessions struct {
	next authz.SessionStore
	c    *core[cookie.Hash, tokenKey, authz.Session, sessionEntry]
}

var (
	_ authz.SessionStore = (*Sessions)(nil)
	_ Invalidator        = (*Sessions)(nil)
)

// NewSessions returns a cache in front of next.
func NewSessions(next authz.SessionStore, o Options) *Sessions {
	return &Sessions{next: next, c: newCore(o, kind[cookie.Hash, tokenKey, authz.Session, sessionEntry]{
		load:    next.GetSession,
		key:     shortToken,
		hash:    hashShortToken,
		flight:  tokenFlight,
		expires: func(s authz.Session) (time.Time, bool) { return s.ExpiresAt, true },
		retain:  func(k tokenKey) tokenKey { return k },
		codec:   sessionCodec{},
	})}
}

// GetSession implements authz.SessionStore. A hit's strings are views of
// the cache's memory, and its Apps and Stale are the caller's own
// (sessionCodec.decode).
func (s *Sessions) GetSession(ctx context.Context, h cookie.Hash) (authz.Session, error) {
	v, err := s.c.get(ctx, h)
	if err == nil {
		v.Hash = h
	}
	return v, err
}

// An entry lives as long as the cache keeps it, so it must not share memory
// with the request that caused it: the gRPC wire path hands out strings
// that are views of a whole serialized request (an email normalised to
// itself would keep a kilobyte alive per entry). Entries are copied when
// they are stored, on a miss or a write, never on a hit. A session is
// copied into its shard's arena (sessionCodec); a profile or an access
// token into one allocation for all its strings, so that the collector has
// one object to mark per entry instead of one per string.

func retainProfile(p authz.Profile) authz.Profile {
	pack(&p.ID, &p.Email, &p.Name, &p.RegisteredBy)
	return p
}

// pack replaces the strings ss point to with copies in one allocation.
func pack(ss ...*string) {
	n := 0
	for _, s := range ss {
		n += len(*s)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(*s)
	}
	all := b.String()
	for _, s := range ss {
		l := len(*s)
		*s, all = all[:l], all[l:]
	}
}

// ReplaceSession implements authz.SessionStore: old is dropped whatever the
// outcome, next is cached when the store took it.
func (s *Sessions) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	seq := s.c.lru.seq(shortToken(next.Hash))
	err := s.next.ReplaceSession(ctx, old, next)
	if err == nil {
		s.c.store(next.Hash, next, seq)
	}
	if !old.IsZero() {
		s.c.lru.remove(shortToken(old))
	}
	return err
}

// DeleteSession implements authz.SessionStore: the entry is dropped
// whatever the outcome.
func (s *Sessions) DeleteSession(ctx context.Context, h cookie.Hash) error {
	err := s.next.DeleteSession(ctx, h)
	s.c.lru.remove(shortToken(h))
	return err
}

// RenewSession implements authz.SessionStore. A renewal the store took
// updates the entry in place (its cache deadline stays: it is already
// bounded by the older expiry); "no live session" drops it; a transient
// failure keeps it (its older expiry is the conservative answer).
func (s *Sessions) RenewSession(ctx context.Context, h cookie.Hash, renewedAt, expiresAt time.Time) error {
	err := s.next.RenewSession(ctx, h, renewedAt, expiresAt)
	switch {
	case err == nil:
		s.c.lru.update(shortToken(h), func(e *sessionEntry) bool {
			e.renewed, e.expires = unixNano(renewedAt), unixNano(expiresAt)
			return true
		})
	case authz.IsTransient(err):
	default:
		s.c.lru.remove(shortToken(h))
	}
	return err
}

// BindSession implements authz.SessionStore: the entry is dropped whatever
// the outcome, and the next read sees the store's row with its new app.
func (s *Sessions) BindSession(ctx context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	err := s.next.BindSession(ctx, h, app, stale, at)
	s.c.lru.remove(shortToken(h))
	return err
}

// Invalidate implements Invalidator: a session event drops its hash.
func (s *Sessions) Invalidate(ev notify.Event) {
	if ev.Kind != notify.KindSession {
		return
	}
	if h, err := ev.TokenHash(); err == nil {
		s.c.lru.remove(shortToken(h))
	}
}

// Purge implements Invalidator.
func (s *Sessions) Purge() { s.c.lru.purge() }

// Sweep drops expired entries and returns how many (see Sweeper).
func (s *Sessions) Sweep() int { return s.c.lru.sweep(s.c.now()) }

// Len is the number of entries held (expired ones not yet dropped included).
func (s *Sessions) Len() int { return s.c.lru.len() }

// Tokens caches an authz.AccessTokenStore by token hash. An entry never
// outlives the token's ExpiresAt, and a change to the owner's profile drops
// it (the answer embeds the profile).
type Tokens struct {
	next authz.AccessTokenStore
	c    *core[cookie.Hash, cookie.Hash, authz.AccessToken, authz.AccessToken]
}

var (
	_ authz.AccessTokenStore = (*Tokens)(nil)
	_ Invalidator            = (*Tokens)(nil)
)

// NewTokens returns a cache in front of next.
func NewTokens(next authz.AccessTokenStore, o Options) *Tokens {
	return &Tokens{next: next, c: newCore(o, kind[cookie.Hash, cookie.Hash, authz.AccessToken, authz.AccessToken]{
		load:    next.LookupAccessToken,
		key:     func(h cookie.Hash) cookie.Hash { return h },
		hash:    hashToken,
		flight:  tokenFlight,
		expires: func(t authz.AccessToken) (time.Time, bool) { return t.ExpiresAt, !t.ExpiresAt.IsZero() },
		retain:  func(h cookie.Hash) cookie.Hash { return h },
		codec: valueCodec[cookie.Hash, authz.AccessToken]{
			retain: func(t authz.AccessToken) authz.AccessToken {
				pack(&t.ProfileID, &t.Name, &t.Profile.ID, &t.Profile.Email, &t.Profile.Name, &t.Profile.RegisteredBy)
				return t
			},
			size: func(t authz.AccessToken) int {
				return len(t.ProfileID) + len(t.Name) + len(t.Profile.ID) + len(t.Profile.Email) + len(t.Profile.Name) + len(t.Profile.RegisteredBy)
			},
		},
	})}
}

// LookupAccessToken implements authz.AccessTokenStore.
func (t *Tokens) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	return t.c.get(ctx, h)
}

// Invalidate implements Invalidator: a token event drops its hash; a
// profile event drops every token of that profile.
func (t *Tokens) Invalidate(ev notify.Event) {
	switch ev.Kind {
	case notify.KindToken:
		if h, err := ev.TokenHash(); err == nil {
			t.c.lru.remove(h)
		}
	case notify.KindProfile:
		id, email := ev.ID, ev.Email
		t.c.lru.removeIf(func(_ cookie.Hash, v authz.AccessToken) bool {
			return (id != "" && (v.ProfileID == id || v.Profile.ID == id)) || (email != "" && v.Profile.Email == email)
		})
	}
}

// Purge implements Invalidator.
func (t *Tokens) Purge() { t.c.lru.purge() }

// Sweep drops expired entries and returns how many (see Sweeper).
func (t *Tokens) Sweep() int { return t.c.lru.sweep(t.c.now()) }

// Len is the number of entries held (expired ones not yet dropped included).
func (t *Tokens) Len() int { return t.c.lru.len() }
