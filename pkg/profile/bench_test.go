package profile_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/profile"
)

// BenchmarkLookups is a sign-in storm's profile lookups: 32 at once, each
// of a different person (half of them unknown), as the cache in front
// would pass them on. store-µs/call is what one request waits.
func BenchmarkLookups(b *testing.B) {
	pool := pgtest.MigratedPool(b)
	const people = 50_000
	if _, err := pool.Exec(b.Context(), `INSERT INTO extauthz_profiles (email) SELECT 'p' || g || '@example.com' FROM generate_series(0, $1 - 1) g`, people); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(b.Context(), `ANALYZE extauthz_profiles`); err != nil {
		b.Fatal(err)
	}
	s := profile.NewPostgres(pool)
	var seq, waited atomic.Int64
	b.SetParallelism(16) // 32 on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			start := time.Now()
			_, err := s.LookupProfile(b.Context(), fmt.Sprintf("p%d@example.com", n%(2*people)))
			if err != nil && n%(2*people) < people {
				b.Error(err)
				return
			}
			waited.Add(int64(time.Since(start)))
		}
	})
	b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "store-µs/call")
}
