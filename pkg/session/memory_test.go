package session_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/session/sessiontest"
)

func randomUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(t *testing.T) sessiontest.Harness {
		return sessiontest.Harness{Store: session.NewMemory(0), NewProfile: randomUUID,
			Capped: func(n int) sessiontest.Store { return session.NewMemory(0).WithLimitPerProfile(n) }}
	})
}

// TestMemoryLimitEviction: at its limit the memory store evicts an expired
// session first, else the least recently used session of the profile that
// holds the most (a flood of sessions for one identity evicts its own,
// never a quiet user's), least recently used profile first among equals.
// Use is creation, GetSession or RenewSession.
func TestMemoryLimitEviction(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type op struct {
		do      string // "new", "get", "renew"
		label   string
		profile string        // for "new"
		ttl     time.Duration // for "new" (default 1h)
		at      time.Duration // created at base+at, for "new"
	}
	flood := func(n int) []op {
		var ops []op
		for i := range n {
			ops = append(ops, op{do: "new", label: fmt.Sprintf("flood%d", i), profile: "mallory", ttl: 24 * time.Hour})
		}
		return ops
	}
	for _, tc := range []struct {
		name  string
		limit int
		ops   []op
		kept  []string
		gone  []string
	}{
		{name: "a flood of one identity's sessions evicts its own, not alice's",
			limit: 4,
			ops:   append([]op{{do: "new", label: "alice", profile: "alice", ttl: time.Hour}}, flood(10)...),
			kept:  []string{"alice", "flood7", "flood8", "flood9"},
			gone:  []string{"flood0", "flood6"}},
		{name: "alice's session never presented since creation survives too",
			limit: 3,
			ops: append([]op{{do: "new", label: "alice", profile: "alice", ttl: time.Minute},
				{do: "new", label: "bob", profile: "bob", ttl: time.Minute}}, flood(50)...),
			kept: []string{"alice", "bob", "flood49"},
			gone: []string{"flood48"}},
		{name: "an expired session goes first",
			limit: 3,
			ops: []op{{do: "new", label: "old", profile: "alice", ttl: time.Minute},
				{do: "new", label: "b1", profile: "bob"}, {do: "new", label: "b2", profile: "bob"},
				{do: "new", label: "c", profile: "carol", at: time.Hour}},
			kept: []string{"b1", "b2", "c"},
			gone: []string{"old"}},
		{name: "among equals, the least recently used profile",
			limit: 3,
			ops: []op{{do: "new", label: "a", profile: "alice"}, {do: "new", label: "b", profile: "bob"},
				{do: "new", label: "c", profile: "carol"}, {do: "get", label: "a"}, {do: "renew", label: "b"},
				{do: "new", label: "d", profile: "dave"}},
			kept: []string{"a", "b", "d"},
			gone: []string{"c"}},
		{name: "within a profile, its least recently used session, not the soonest to expire",
			limit: 4,
			ops: []op{{do: "new", label: "long", profile: "mallory", ttl: 3 * time.Hour},
				{do: "new", label: "short", profile: "mallory", ttl: time.Hour},
				{do: "new", label: "mid", profile: "mallory", ttl: 2 * time.Hour},
				{do: "new", label: "alice", profile: "alice"},
				{do: "get", label: "long"},
				{do: "new", label: "newest", profile: "mallory"}},
			kept: []string{"long", "mid", "alice", "newest"},
			gone: []string{"short"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := session.NewMemory(tc.limit)
			pids := map[string]string{}
			hash := func(label string) cookie.Hash { return cookie.Hash(sha256.Sum256([]byte(label))) }
			for _, o := range tc.ops {
				switch o.do {
				case "new":
					if pids[o.profile] == "" {
						pids[o.profile] = randomUUID(t)
					}
					ttl := o.ttl
					if ttl == 0 {
						ttl = time.Hour
					}
					at := base.Add(o.at)
					if err := m.ReplaceSession(ctx, cookie.Hash{}, authz.Session{Hash: hash(o.label), ProfileID: pids[o.profile],
						CreatedAt: at, RenewedAt: at, ExpiresAt: at.Add(ttl)}); err != nil {
						t.Fatal(err)
					}
				case "get":
					if _, err := m.GetSession(ctx, hash(o.label)); err != nil {
						t.Fatalf("get %s: %v", o.label, err)
					}
				case "renew":
					if err := m.RenewSession(ctx, hash(o.label), base, base.Add(2*time.Hour)); err != nil {
						t.Fatalf("renew %s: %v", o.label, err)
					}
				}
				if m.Len() > tc.limit {
					t.Fatalf("Len %d over the limit %d", m.Len(), tc.limit)
				}
			}
			for _, l := range tc.kept {
				if _, err := m.GetSession(ctx, hash(l)); err != nil {
					t.Errorf("%s evicted", l)
				}
			}
			for _, l := range tc.gone {
				if _, err := m.GetSession(ctx, hash(l)); err == nil {
					t.Errorf("%s kept", l)
				}
			}
		})
	}
}

// Replacing a session at the limit evicts nothing else.
func TestMemoryReplaceAtLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := session.NewMemory(2)
	pid := randomUUID(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(label string) authz.Session {
		return authz.Session{Hash: cookie.Hash(sha256.Sum256([]byte(label))), ProfileID: pid,
			CreatedAt: base, RenewedAt: base, ExpiresAt: base.Add(time.Hour)}
	}
	for _, l := range []string{"a", "b"} {
		if err := m.ReplaceSession(ctx, cookie.Hash{}, mk(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.ReplaceSession(ctx, mk("b").Hash, mk("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetSession(ctx, mk("a").Hash); err != nil || m.Len() != 2 {
		t.Errorf("replace at the limit evicted another session: %v, Len %d", err, m.Len())
	}
}

// TestMemoryKeepsCopies: a stored session shares no memory with the
// caller's strings, which on the gRPC wire path are views of a whole
// request.
func TestMemoryKeepsCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := session.NewMemory(0)
	pid := randomUUID(t)
	request := strings.Repeat("h", 4096) + pid + "email:a@x.io" + "a@x.io" + "app"
	at := 4096
	view := func(n int) string { s := request[at : at+n]; at += n; return s }
	s := authz.Session{Hash: cookie.Hash(sha256.Sum256([]byte("s"))), ProfileID: view(len(pid)),
		IdentityKey: view(len("email:a@x.io")), Email: view(len("a@x.io")), App: view(len("app")),
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := m.ReplaceSession(ctx, cookie.Hash{}, s); err != nil {
		t.Fatal(err)
	}
	got, err := m.GetSession(ctx, s.Hash)
	if err != nil {
		t.Fatal(err)
	}
	base := uintptr(unsafe.Pointer(unsafe.StringData(request)))
	for _, v := range []string{got.ProfileID, got.IdentityKey, got.Email, got.App} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(v))); p >= base && p < base+uintptr(len(request)) {
			t.Errorf("stored %q shares the caller's memory", v)
		}
	}
}
