package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

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

type source struct{ registered int }

func (s *source) LookupProfile(context.Context, string) (authz.Profile, error) {
	return authz.Profile{}, authz.ErrNotFound
}

func (s *source) RegisterProfile(_ context.Context, email, _ string) (authz.Profile, error) {
	s.registered++
	return authz.Profile{ID: "id-" + email, Email: email, Active: true}, nil
}

func TestRegistrationsOverTheRateAreNotSentToTheStore(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := &source{}
	r := Registrations{Next: s, Bucket: NewBucket(1, 2, c.now)}
	ctx := context.Background()
	for i := range 5 {
		_, err := r.RegisterProfile(ctx, "new@example.com", "")
		if want := i < 2; (err == nil) != want {
			t.Fatalf("registration %d: %v, want allowed %v", i+1, err, want)
		}
		if err != nil && !errors.Is(err, authz.ErrRateLimited) {
			t.Fatalf("registration %d: %v, want ErrRateLimited", i+1, err)
		}
	}
	if s.registered != 2 {
		t.Fatalf("the store registered %d, want 2", s.registered)
	}
	if _, err := r.LookupProfile(ctx, "x@example.com"); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("lookups pass through: %v", err)
	}
}
