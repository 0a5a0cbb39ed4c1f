// Package ratelimit bounds how fast a replica asks a store to do expensive
// work on behalf of people it does not know yet: registrations of
// auto_register. A token bucket per replica; over it the store is not
// asked and the decision answers 429 with Retry-After (authz.ErrRateLimited),
// so that a flood of new identities costs neither connections nor the
// lookups of everybody else.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Bucket is a token bucket: rate tokens a second, at most burst at once. It
// is safe for concurrent use.
type Bucket struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket. now may be nil (time.Now).
func NewBucket(rate float64, burst int, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	b := float64(max(burst, 1))
	return &Bucket{rate: rate, burst: b, now: now, tokens: b, last: now()}
}

// Allow takes a token if there is one.
func (b *Bucket) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	if d := t.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = t
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Registrations is a profile source whose RegisterProfile draws from a
// bucket and, with InFlight, waits (within its deadline) for one of a fixed
// number of slots and holds it for as long as the store works on it;
// lookups pass through untouched. The slots
// keep a burst of registrations from holding every pool connection while
// the lookups of people already known wait for one.
//
// Concurrent registrations of one email through one app (a first page
// load with its images and scripts) are one registration: they share one
// token, one slot and one answer.
type Registrations struct {
	Next   authz.ProfileSource
	Bucket *Bucket // nil: no rate
	// InFlight bounds concurrent registrations (nil: no bound); make it
	// with NewSlots.
	InFlight chan struct{}
	// Same collapses concurrent registrations of one email; share one
	// Group between the Registrations of a replica (the zero value works).
	Same *singleflight.Group
}

// NewSlots returns n slots for Registrations.InFlight (nil for n <= 0).
func NewSlots(n int) chan struct{} {
	if n <= 0 {
		return nil
	}
	return make(chan struct{}, n)
}

var _ authz.ProfileSource = Registrations{}

// LookupProfile implements authz.ProfileSource.
func (r Registrations) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	return r.Next.LookupProfile(ctx, email)
}

// RegisterProfile implements authz.ProfileSource: authz.ErrRateLimited
// when the bucket is empty.
func (r Registrations) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	if r.Same == nil {
		return r.register(ctx, email, name, app)
	}
	v, err, _ := r.Same.Do(app+"\x00"+email, func() (any, error) { return r.register(ctx, email, name, app) })
	p, _ := v.(authz.Profile)
	return p, err
}

func (r Registrations) register(ctx context.Context, email, name, app string) (authz.Profile, error) {
	// The rate first: a registration over it is refused at once, without
	// waiting for a slot.
	if r.Bucket != nil && !r.Bucket.Allow() {
		return authz.Profile{}, fmt.Errorf("profile: register: %w", authz.ErrRateLimited)
	}
	if r.InFlight != nil {
		// Wait for a slot, as long as the decision's deadline allows; a
		// registration that never gets one was refused for the load, not
		// failed by a store: 429, like the rate.
		select {
		case r.InFlight <- struct{}{}:
			defer func() { <-r.InFlight }()
		case <-ctx.Done():
			return authz.Profile{}, fmt.Errorf("profile: register: %d in flight: %w", cap(r.InFlight), authz.ErrRateLimited)
		}
	}
	return r.Next.RegisterProfile(ctx, email, name, app)
}
