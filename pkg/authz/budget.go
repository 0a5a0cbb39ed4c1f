package authz

import (
	"context"
	"sync"
	"time"
)

// budget is the store deadline of one decision, made lazily. Most decisions
// are answered from caches and never wait on a store; creating a timer for
// each (context.WithTimeout) was a measurable share of a steady-state Check.
// budget reports its deadline at once, checks it on Err without a timer, and
// arms a real deadline context only when a store first asks for Done — that
// is, when it is about to wait on I/O.
type budget struct {
	context.Context // the caller's context
	deadline        time.Time
	now             func() time.Time

	mu     sync.Mutex
	armed  context.Context
	cancel context.CancelFunc
}

func newBudget(parent context.Context, d time.Duration, now func() time.Time) *budget {
	return &budget{Context: parent, deadline: now().Add(d), now: now}
}

// Deadline is the earlier of the caller's and the budget's.
func (b *budget) Deadline() (time.Time, bool) {
	if d, ok := b.Context.Deadline(); ok && d.Before(b.deadline) {
		return d, true
	}
	return b.deadline, true
}

func (b *budget) arm() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.armed == nil {
		b.armed, b.cancel = context.WithDeadline(b.Context, b.deadline)
	}
	return b.armed
}

// Done arms the deadline: the caller is about to wait.
func (b *budget) Done() <-chan struct{} { return b.arm().Done() }

// Err reports the caller's cancellation or an exceeded budget.
func (b *budget) Err() error {
	b.mu.Lock()
	armed := b.armed
	b.mu.Unlock()
	if armed != nil {
		return armed.Err()
	}
	if err := b.Context.Err(); err != nil {
		return err
	}
	if !b.now().Before(b.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// release frees the timer, if one was armed.
func (b *budget) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel != nil {
		b.cancel()
	}
}
