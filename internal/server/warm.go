package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/extauthz/extauthz/pkg/store/pgpool"
)

// errWarming is the readiness cause until the pool has been warmed.
var errWarming = errors.New("opening the database pool's minimum connections")

// poolWarmth tracks whether the pool has been warmed once.
type poolWarmth struct{ warm atomic.Bool }

// check is the readiness check: not ready until the first warm-up succeeded.
func (w *poolWarmth) check(context.Context) error {
	if !w.warm.Load() {
		return errWarming
	}
	return nil
}

// warmPool opens and verifies the pool's minimum connections, retrying
// until it succeeds or ctx ends, then calls ready. A replica reports ready
// (gRPC health SERVING, /readyz 200) only once its first burst of checks
// will find connections open: opening them on demand is what made a fresh
// replica answer 503 to its first requests. Failures are logged at WARN,
// the first at once and then at most every 30 s.
func (s *Server) warmPool(ctx context.Context, ready func()) {
	start := time.Now()
	backoff := 100 * time.Millisecond
	var lastWarn time.Time
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pgpool.Warm(wctx, s.stores.pool)
		cancel()
		if err == nil {
			s.warmth.warm.Store(true)
			s.log.Info("database pool warm", "connections", s.stores.pool.Stat().TotalConns(),
				"took_seconds", time.Since(start).Seconds())
			ready()
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastWarn) >= 30*time.Second {
			s.log.Warn("database unavailable at start: not ready until the pool can be opened", "err", err)
			lastWarn = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
