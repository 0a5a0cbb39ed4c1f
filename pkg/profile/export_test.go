package profile

import "time"

// WithBatchedLookups sets s's lookup linger and largest batch (a batch is
// sent when it is full or the linger is over), for tests that need
// lookups in one batch whatever the scheduler does.
func WithBatchedLookups(s *Postgres, linger time.Duration, maxBatch int) *Postgres {
	s.lookups.linger, s.lookups.maxBatch = linger, maxBatch
	return s
}

// LookupBatches returns how many lookups of more than one email s sent,
// and how many of those the server refused (their emails then ran alone).
func LookupBatches(s *Postgres) (batches, fallbacks uint64) {
	return s.lookups.batches.Load(), s.lookups.fallbacks.Load()
}
