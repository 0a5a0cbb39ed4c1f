package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// The hit path is what every steady-state request takes twice (session,
// then profile). It must allocate nothing and scale across cores.

func benchCaches(b *testing.B) (*Profiles, *Sessions, []string, []cookie.Hash) {
	const n = 10_000
	emails := make([]string, n)
	hashes := make([]cookie.Hash, n)
	for i := range n {
		emails[i] = fmt.Sprintf("user%d@example.com", i)
		hashes[i] = hashOf(emails[i])
	}
	pc := NewProfiles(&fakeProfiles{lookup: func(_ context.Context, e string) (authz.Profile, error) {
		return authz.Profile{ID: "id-" + e, Email: e, Active: true}, nil
	}}, Options{Hits: &counter{}, Misses: &counter{}})
	sc := NewSessions(&fakeSessions{get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
		return authz.Session{Hash: h, ProfileID: "p", ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}, Options{Hits: &counter{}, Misses: &counter{}})
	ctx := context.Background()
	for i := range n {
		_, _ = pc.LookupProfile(ctx, emails[i])
		_, _ = sc.GetSession(ctx, hashes[i])
	}
	return pc, sc, emails, hashes
}

func BenchmarkHitProfile(b *testing.B) {
	pc, _, emails, _ := benchCaches(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := pc.LookupProfile(ctx, emails[i%len(emails)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkHitSession(b *testing.B) {
	_, sc, _, hashes := benchCaches(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := sc.GetSession(ctx, hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHitParallel is the steady state's pair of lookups from every
// core at once.
func BenchmarkHitParallel(b *testing.B) {
	pc, sc, emails, hashes := benchCaches(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := i % len(emails)
			if _, err := sc.GetSession(ctx, hashes[k]); err != nil {
				b.Fatal(err)
			}
			if _, err := pc.LookupProfile(ctx, emails[k]); err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
}
