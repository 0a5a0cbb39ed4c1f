package server

import (
	"context"
	"time"
)

// gcBatch is how many expired sessions one DELETE removes: small enough
// that a backlog never holds locks for long, large enough that a day's
// expiries go in a few statements.
const gcBatch = 1000

// collectGarbage deletes expired sessions in batches, every minute until
// ctx ends.
func (s *Server) collectGarbage(ctx context.Context) {
	every(ctx, time.Minute, func(ctx context.Context) { s.collectOnce(ctx, time.Now()) })
}

// collectOnce deletes the sessions expired before now, batch after batch
// until one comes back short.
func (s *Server) collectOnce(ctx context.Context, now time.Time) {
	if s.identity.on() {
		if _, err := s.stores.sessions.DeleteExpiredLogouts(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("back-channel logout garbage collection failed", "err", err)
		}
	}
	for {
		n, err := s.stores.sessions.DeleteExpired(ctx, now, gcBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("session garbage collection failed", "err", err)
			}
			return
		}
		if n > 0 {
			s.log.Debug("expired sessions deleted", "count", n)
		}
		if n < gcBatch {
			return
		}
	}
}

// every runs fn each period until ctx ends (the first run one period in).
func every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
