package ratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/extauthz/extauthz/pkg/authz"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBucket(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBucket(10, 3, c.now) // 10 a second, 3 at once
	for i := range 3 {
		if !b.Allow() {
			t.Fatalf("burst: token %d refused", i+1)
		}
	}
	if b.Allow() {
		t.Fatal("a fourth token right away")
	}
	c.t = c.t.Add(100 * time.Millisecond) // one token back
	if !b.Allow() || b.Allow() {
		t.Fatal("after 100 ms at 10/s: want exactly one token")
	}
	c.t = c.t.Add(time.Hour) // refills to the burst, not beyond
	n := 0
	for b.Allow() {
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour: %d tokens, want the burst (3)", n)
	}
	c.t = c.t.Add(-time.Minute) // a clock that steps back gives nothing
	if b.Allow() {
		t.Fatal("a token from a clock stepping back")
	}
}

type source struct {
	registered atomic.Int64
	hold       chan struct{} // when set, RegisterProfile waits on it
}

func (s *source) LookupProfile(context.Context, string) (authz.Profile, error) {
	return authz.Profile{}, authz.ErrNotFound
}

func (s *source) RegisterProfile(_ context.Context, email, _, _ string) (authz.Profile, error) {
	if s.hold != nil {
		<-s.hold
	}
	s.registered.Add(1)
	return authz.Profile{ID: "id-" + email, Email: email, Active: true}, nil
}

func TestRegistrationsOverTheRateAreNotSentToTheStore(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := &source{}
	r := Registrations{Next: s, Bucket: NewBucket(1, 2, c.now)}
	ctx := context.Background()
	for i := range 5 {
		_, err := r.RegisterProfile(ctx, "new@example.com", "", "open")
		if want := i < 2; (err == nil) != want {
			t.Fatalf("registration %d: %v, want allowed %v", i+1, err, want)
		}
		if err != nil && !errors.Is(err, authz.ErrRateLimited) {
			t.Fatalf("registration %d: %v, want ErrRateLimited", i+1, err)
		}
	}
	if n := s.registered.Load(); n != 2 {
		t.Fatalf("the store registered %d, want 2", n)
	}
	if _, err := r.LookupProfile(ctx, "x@example.com"); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("lookups pass through: %v", err)
	}
}

func TestRegistrationsInFlight(t *testing.T) {
	s := &source{hold: make(chan struct{})}
	r := Registrations{Next: s, InFlight: NewSlots(2)}
	ctx := context.Background()
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := r.RegisterProfile(ctx, "a@example.com", "", "open"); done <- err }()
	}
	for len(r.InFlight) < 2 { // both slots taken by the held registrations
		time.Sleep(time.Millisecond)
	}
	// A third waits for a slot until its deadline, then is refused.
	short, cancel := context.WithCancel(ctx)
	third := make(chan error, 1)
	go func() { _, err := r.RegisterProfile(short, "b@example.com", "", "open"); third <- err }()
	cancel()
	if err := <-third; !errors.Is(err, authz.ErrRateLimited) {
		t.Fatalf("a third registration with two in flight, past its deadline: %v, want ErrRateLimited", err)
	}
	close(s.hold)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.RegisterProfile(ctx, "c@example.com", "", "open"); err != nil {
		t.Fatalf("a slot freed: %v", err)
	}
}

// One person's first page load sends many requests at once: they are one
// registration, not many that the bounds refuse.
func TestConcurrentRegistrationsOfOneEmailAreOne(t *testing.T) {
	s := &source{hold: make(chan struct{})}
	r := Registrations{Next: s, InFlight: NewSlots(1), Bucket: NewBucket(0.001, 1, nil), Same: &singleflight.Group{}}
	ctx := context.Background()
	const n = 20
	errs := make(chan error, n)
	var started atomic.Int32
	for range n {
		go func() {
			started.Add(1)
			_, err := r.RegisterProfile(ctx, "same@example.com", "", "open")
			errs <- err
		}()
	}
	// The first registration is held in the store; give every caller time
	// to join it (they are all running; joining is a map look-up).
	for started.Load() < n || len(r.InFlight) < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(s.hold)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent registration of the same email: %v", err)
		}
	}
	if got := s.registered.Load(); got != 1 {
		t.Fatalf("the store registered %d times, want once", got)
	}
}
