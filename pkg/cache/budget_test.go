package cache

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// TestBudgetBoundsEveryCache: caches sharing a budget never hold more
// than it together, and a cache that keeps filling takes its room from the
// others rather than from itself alone.
func TestBudgetBoundsEveryCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	budget := NewBudget(1 << 20)
	sessions := NewSessions(&fakeSessions{get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
		return authz.Session{Hash: h, ProfileID: "p-" + h.String()[:8], IdentityKey: "email:a@x.io", Email: "a@x.io", App: "default",
			ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}, Options{Budget: budget})
	profiles := NewProfiles(&fakeProfiles{lookup: func(_ context.Context, e string) (authz.Profile, error) {
		return authz.Profile{ID: "id-" + e, Email: e, Active: true}, nil
	}}, Options{Budget: budget})
	for i := range 20_000 {
		if _, err := sessions.GetSession(ctx, hashOf(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if used := budget.Used(); used > budget.Limit() {
			t.Fatalf("after %d sessions the caches hold %d bytes, over the budget of %d", i+1, used, budget.Limit())
		}
	}
	full := sessions.Len()
	if full < 1000 || full >= 20_000 {
		t.Fatalf("a 1 MiB budget holds %d sessions", full)
	}
	for i := range 20_000 {
		if _, err := profiles.LookupProfile(ctx, fmt.Sprintf("user%d@x.io", i)); err != nil {
			t.Fatal(err)
		}
		if used := budget.Used(); used > budget.Limit() {
			t.Fatalf("after %d profiles the caches hold %d bytes, over the budget of %d", i+1, used, budget.Limit())
		}
	}
	if n := sessions.Len(); n > full/2 || profiles.Len() < 1000 {
		t.Fatalf("after 20000 profiles: %d sessions (of %d), %d profiles; the idle cache should have made room", n, full, profiles.Len())
	}
	sessions.Purge()
	profiles.Purge()
	if used := budget.Used(); used != 0 {
		t.Fatalf("empty caches hold %d bytes", used)
	}
}

// TestSessionEntryRoundTrip: what the compact layout keeps is the session
// the store returned, through compactions of the arena.
func TestSessionEntryRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	far := now.Add(time.Hour)
	mk := func(i int) authz.Session {
		s := authz.Session{ProfileID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), IdentityKey: fmt.Sprintf("email:u%d@x.io", i),
			Email: fmt.Sprintf("u%d@x.io", i), App: "wiki", CreatedAt: now.Add(-time.Minute).UTC(), RenewedAt: now.UTC(), ExpiresAt: far.UTC()}
		switch i % 4 {
		case 1:
			s.IdentityKey = fmt.Sprintf("sub:%d", i) // the email is not in the identity key
		case 2:
			s.Apps = []string{"plane", "docs"}
			s.Stale = []cookie.Hash{hashOf("a"), hashOf("b")}
			// identity_jwt: back-channel logout finds sessions by these.
			s.Issuer, s.Subject, s.SID = "https://idp.example", fmt.Sprintf("sub-%d", i), fmt.Sprintf("sid-%d", i)
		case 3:
			s.CreatedAt = time.Time{}
		}
		return s
	}
	key := func(i int) tokenKey { return shortToken(hashOf(fmt.Sprint(i))) }
	// One shard of 500 entries: 5000 sessions go through it, the evicted
	// ones' bytes die, and the arena is compacted on the way.
	c := newLRU[tokenKey, authz.Session, sessionEntry](500, hashShortToken, now, sessionCodec{}, nil)
	const n = 5000
	written := 0
	for i := range n {
		c.add(key(i), mk(i), false, false, far, time.Time{}, c.seq(key(i)))
		written += sessionCodec{}.arenaBytes(&c.shards[0].nodes[c.shards[0].m[key(i)]].val)
	}
	if len(c.shards) != 1 || len(c.shards[0].arena.b) >= written/2 {
		t.Fatalf("%d shards, arena of %d bytes for %d written: never compacted", len(c.shards), len(c.shards[0].arena.b), written)
	}
	for i := range n {
		got, _, _, ok := c.get(key(i), now)
		if i < n-500 {
			if ok {
				t.Fatalf("%d: evicted, still there", i)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, mk(i)) {
			t.Fatalf("%d: got %+v, want %+v", i, got, mk(i))
		}
	}
}
