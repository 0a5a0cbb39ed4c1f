package cache

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
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

// BenchmarkGCFullCache is the price of a full session cache at every
// garbage collection: one full GC of a heap holding n cached sessions (as
// loaded from the store: each string its own allocation), for an empty
// cache, 100,000 and 1,000,000 sessions. The mark phase runs concurrently
// with requests and its length drives the latency tail of a busy replica,
// so the cache's layout should give the collector as little as possible to
// trace: with pointer-free entries the cost stays flat as the cache grows.
func BenchmarkGCFullCache(b *testing.B) {
	sizes := []int{0, 100_000, 1_000_000}
	if testing.Short() {
		sizes = sizes[:2] // the smoke run: filling a million takes seconds
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) { benchGCFullCache(b, n) })
	}
}

func benchGCFullCache(b *testing.B, n int) {
	sc := NewSessions(&fakeSessions{get: func(_ context.Context, h cookie.Hash) (authz.Session, error) {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", h[0:4], h[4:10])
		email := fmt.Sprintf("user%x@example.com", h[10:13])
		return authz.Session{Hash: h, ProfileID: id, IdentityKey: "email:" + email, Email: email, App: strings.Clone("default"),
			ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}, Options{Budget: NewBudget(1 << 30)})
	ctx := context.Background()
	for i := range n {
		if _, err := sc.GetSession(ctx, hashOf(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	if sc.Len() != n {
		b.Fatalf("%d entries, want %d", sc.Len(), n)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	// What the collector had to trace, the figure the wall time of a
	// collection on a noisy machine only hints at.
	m := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	b.ReportMetric(float64(m[0].Value.Uint64()), "scan-heap-B")
	b.ReportMetric(float64(m[1].Value.Uint64()), "live-heap-B")
	runtime.KeepAlive(sc)
}
