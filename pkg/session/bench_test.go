package session_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
)

// BenchmarkWrites is the write path of a sign-in burst: 32 requests at once
// (the load benchmark's concurrency), each creating a session (first
// visit), re-keying one (delete old and create) or renewing one, with the
// per-profile cap the server applies by default. store-µs/call is what one
// request waits for the store, the figure the decision's latency carries;
// ns/op is its inverse throughput.
func BenchmarkWrites(b *testing.B) {
	pool := migratedPool(b)
	profiles := profile.NewPostgres(pool)
	pids := make([]string, 100)
	for i := range pids {
		p, err := profiles.AddProfile(b.Context(), fmt.Sprintf("bench%d@example.com", i), "", true, false)
		if err != nil {
			b.Fatal(err)
		}
		pids[i] = p.ID
	}
	s := session.NewPostgres(pool).WithLimitPerProfile(50)
	var seq atomic.Int64
	mk := func() authz.Session {
		n := seq.Add(1)
		now := time.Now()
		return authz.Session{Hash: hashOf(fmt.Sprint("bench-", n)), ProfileID: pids[n%int64(len(pids))],
			CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	for _, sc := range []struct {
		name string
		op   func(prev *cookie.Hash) error
	}{
		{"create", func(*cookie.Hash) error { return s.ReplaceSession(b.Context(), cookie.Hash{}, mk()) }},
		{"rekey", func(prev *cookie.Hash) error {
			next := mk()
			err := s.ReplaceSession(b.Context(), *prev, next)
			*prev = next.Hash
			return err
		}},
		{"renew", func(prev *cookie.Hash) error {
			now := time.Now()
			return s.RenewSession(b.Context(), *prev, now, now.Add(time.Hour))
		}},
	} {
		b.Run(sc.name, func(b *testing.B) {
			var waited atomic.Int64
			b.SetParallelism(16) // 32 on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				first := mk()
				if err := s.ReplaceSession(b.Context(), cookie.Hash{}, first); err != nil {
					b.Error(err)
					return
				}
				prev := first.Hash
				for pb.Next() {
					start := time.Now()
					if err := sc.op(&prev); err != nil {
						b.Error(err)
						return
					}
					waited.Add(int64(time.Since(start)))
				}
			})
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "store-µs/call")
		})
	}
}
