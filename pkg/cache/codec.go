package cache

import (
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// codec lays a cache's values out in its nodes. Its methods run under the
// shard's lock, with the shard's arena.
type codec[K comparable, V, E any] interface {
	// encode lays v out as an entry, its variable part appended to a, or
	// reports that v cannot be laid out (it is then not cached).
	encode(a *arena, k K, v V) (E, bool)
	// decode is the value e holds. It must not allocate for what the
	// steady state reads, and what it returns must stay valid after the
	// entry is gone.
	decode(a *arena, k K, e *E) V
	// extra is what k and e hold beyond the node (arena bytes, strings).
	extra(k K, e *E) int
	// arenaBytes is what e holds in the arena.
	arenaBytes(e *E) int
	// move copies e's arena bytes from old into a (compaction).
	move(old []byte, a *arena, e *E)
}

// arena is a shard's byte store for the variable part of pointer-free
// entries. It only grows: bytes once written are never written again (an
// entry's strings are views of them, and may outlive the entry), and a
// dropped entry's bytes are dead until compaction copies the live ones
// into a new arena. The old one lives on as long as a string handed out
// points into it.
type arena struct {
	b    []byte
	dead int
}

// compactAt is the least dead space worth a compaction.
const compactAt = 64 << 10

// wasteful reports that most of the arena is dead.
func (a *arena) wasteful() bool { return a.dead >= compactAt && a.dead*2 >= len(a.b) }

// put appends ss and returns their offset, or false when the arena would
// outgrow the 32-bit offsets of its entries.
func (a *arena) put(ss ...string) (uint32, bool) {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	if len(a.b)+n > math.MaxUint32 {
		return 0, false
	}
	off := uint32(len(a.b))
	for _, s := range ss {
		a.b = append(a.b, s...)
	}
	return off, true
}

// str is the string of n bytes at off, a view of the arena.
func (a *arena) str(off uint32, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&a.b[off], n)
}

// valueCodec keeps values as they are (profiles, access tokens): a copy
// that shares no memory with the request, made by retain.
type valueCodec[K comparable, V any] struct {
	retain func(V) V   // nil: v as it is
	size   func(V) int // bytes v holds beyond itself; nil: 0
	keyLen func(K) int // bytes k holds beyond itself; nil: 0
}

func (c valueCodec[K, V]) encode(_ *arena, _ K, v V) (V, bool) {
	if c.retain != nil {
		v = c.retain(v)
	}
	return v, true
}

func (c valueCodec[K, V]) decode(_ *arena, _ K, e *V) V { return *e }

func (c valueCodec[K, V]) extra(k K, e *V) int {
	n := 0
	if c.keyLen != nil {
		n += c.keyLen(k)
	}
	if c.size != nil {
		n += c.size(*e)
	}
	return n
}

func (valueCodec[K, V]) arenaBytes(*V) int       { return 0 }
func (valueCodec[K, V]) move([]byte, *arena, *V) {}

// sessionEntry is a cached session without a pointer: its strings (and
// the rare Apps and Stale) in the shard's arena at off, its times as Unix
// nanoseconds. The key is the token hash, so the entry does not repeat it.
type sessionEntry struct {
	created, renewed, expires int64
	off                       uint32
	id, ident, email, app     uint16 // lengths in the arena
	apps                      uint16 // bytes of Apps, joined by NUL
	iss, sub, sid             uint16 // identity_jwt's Issuer, Subject, SID
	stale                     uint16 // number of Stale hashes
	emailInIdent              bool   // Email is the tail of IdentityKey (email:<address>), not stored twice
}

// sessionCodec lays sessions out as sessionEntry.
type sessionCodec struct{}

const noTime = math.MinInt64

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func fits(ss ...string) bool {
	for _, s := range ss {
		if len(s) > math.MaxUint16 {
			return false
		}
	}
	return true
}

func (sessionCodec) encode(a *arena, _ tokenKey, s authz.Session) (sessionEntry, bool) {
	apps := strings.Join(s.Apps, "\x00")
	email := s.Email
	inIdent := email != "" && strings.HasSuffix(s.IdentityKey, email)
	if inIdent {
		email = ""
	}
	stale := unsafe.String((*byte)(unsafe.Pointer(unsafe.SliceData(s.Stale))), len(s.Stale)*len(cookie.Hash{}))
	if !fits(s.ProfileID, s.IdentityKey, email, s.App, apps, s.Issuer, s.Subject, s.SID) || len(s.Stale) > math.MaxUint16 ||
		strings.Contains(strings.Join(s.Apps, ""), "\x00") {
		return sessionEntry{}, false
	}
	off, ok := a.put(s.ProfileID, s.IdentityKey, email, s.App, apps, s.Issuer, s.Subject, s.SID, stale)
	if !ok {
		return sessionEntry{}, false
	}
	e := sessionEntry{created: unixNano(s.CreatedAt), renewed: unixNano(s.RenewedAt), expires: unixNano(s.ExpiresAt), off: off,
		id: uint16(len(s.ProfileID)), ident: uint16(len(s.IdentityKey)), email: uint16(len(email)), app: uint16(len(s.App)),
		apps: uint16(len(apps)), iss: uint16(len(s.Issuer)), sub: uint16(len(s.Subject)), sid: uint16(len(s.SID)),
		stale: uint16(len(s.Stale)), emailInIdent: inIdent}
	if inIdent {
		e.email = uint16(len(s.Email))
	}
	return e, true
}

// decode allocates nothing for a session without Apps or Stale (the
// steady state): its strings are views of the arena. Apps and Stale are
// the caller's own copies. The caller sets Hash (the key is only a
// prefix of it).
func (sessionCodec) decode(a *arena, _ tokenKey, e *sessionEntry) authz.Session {
	s := authz.Session{CreatedAt: fromUnixNano(e.created), RenewedAt: fromUnixNano(e.renewed), ExpiresAt: fromUnixNano(e.expires)}
	off := e.off
	next := func(n uint16) string {
		str := a.str(off, int(n))
		off += uint32(n)
		return str
	}
	s.ProfileID = next(e.id)
	s.IdentityKey = next(e.ident)
	if e.emailInIdent {
		s.Email = s.IdentityKey[len(s.IdentityKey)-int(e.email):]
	} else {
		s.Email = next(e.email)
	}
	s.App = next(e.app)
	if apps := next(e.apps); apps != "" {
		s.Apps = strings.Split(apps, "\x00")
	}
	s.Issuer, s.Subject, s.SID = next(e.iss), next(e.sub), next(e.sid)
	if e.stale > 0 {
		s.Stale = make([]cookie.Hash, e.stale)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&s.Stale[0])), int(e.stale)*len(cookie.Hash{})), a.b[off:])
	}
	return s
}

func (c sessionCodec) extra(_ tokenKey, e *sessionEntry) int { return c.arenaBytes(e) }

func (sessionCodec) arenaBytes(e *sessionEntry) int {
	n := int(e.id) + int(e.ident) + int(e.app) + int(e.apps) + int(e.iss) + int(e.sub) + int(e.sid) + int(e.stale)*len(cookie.Hash{})
	if !e.emailInIdent {
		n += int(e.email)
	}
	return n
}

func (c sessionCodec) move(old []byte, a *arena, e *sessionEntry) {
	n := c.arenaBytes(e)
	off := uint32(len(a.b))
	a.b = append(a.b, old[e.off:int(e.off)+n]...)
	e.off = off
}
