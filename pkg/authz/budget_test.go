package authz

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	b := newBudget(context.Background(), 150*time.Millisecond, clock)
	if d, ok := b.Deadline(); !ok || !d.Equal(now.Add(150*time.Millisecond)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if b.Err() != nil || b.armed != nil {
		t.Fatal("Err armed a timer or failed early")
	}
	now = now.Add(200 * time.Millisecond)
	if !errors.Is(b.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the budget = %v", b.Err())
	}
	b.release()

	// A caller's earlier deadline wins.
	parent, cancel := context.WithDeadline(context.Background(), now.Add(10*time.Millisecond))
	defer cancel()
	b = newBudget(parent, time.Second, clock)
	if d, _ := b.Deadline(); !d.Equal(now.Add(10 * time.Millisecond)) {
		t.Fatalf("deadline %v, want the caller's", d)
	}
	b.release()

	// Done arms a real deadline that fires (real clock) and is released.
	b = newBudget(context.Background(), 20*time.Millisecond, time.Now)
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("armed budget never fired")
	}
	if !errors.Is(b.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", b.Err())
	}
	b.release()

	// The caller's cancellation shows through, armed or not.
	parent2, cancel2 := context.WithCancel(context.Background())
	b = newBudget(parent2, time.Minute, time.Now)
	cancel2()
	if !errors.Is(b.Err(), context.Canceled) {
		t.Fatalf("Err = %v", b.Err())
	}
	<-b.Done()
	b.release()

	// Values come from the caller's context.
	type key struct{}
	b = newBudget(context.WithValue(context.Background(), key{}, "v"), time.Minute, time.Now)
	if b.Value(key{}) != "v" {
		t.Fatal("value lost")
	}
	b.release()
}
