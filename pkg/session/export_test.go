package session

import "time"

// WithGroupCommit sets p's linger and largest batch (a batch is sent when
// it is full or the linger is over), for tests that need writes in one
// batch whatever the scheduler does.
func WithGroupCommit(p *Postgres, linger time.Duration, maxBatch int) *Postgres {
	p.writes.linger, p.writes.maxBatch = linger, maxBatch
	return p
}

// GroupCommits returns how many batches of more than one write p sent, and
// how many of those the server refused (their writes then ran alone).
func GroupCommits(p *Postgres) (batches, fallbacks uint64) {
	return p.writes.batches.Load(), p.writes.fallbacks.Load()
}

// GroupCommitIdle reports whether p has no write pending or in flight.
func GroupCommitIdle(p *Postgres) bool {
	p.writes.mu.Lock()
	defer p.writes.mu.Unlock()
	return p.writes.running == 0 && len(p.writes.pending) == 0
}
