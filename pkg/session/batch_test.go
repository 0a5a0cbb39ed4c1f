package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

func live(label, pid string) authz.Session {
	now := time.Now()
	return authz.Session{Hash: hashOf(label), ProfileID: pid, CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// together runs fns at once and returns their errors. The store under test
// sends a batch only when it holds len(fns) writes (its linger is longer
// than any test), so they share one batch.
func together(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errs
}

// TestGroupCommitRefusedBatch: one write of a batch breaks a constraint.
// Nothing of the batch committed, so no write is lost or applied twice,
// and the error is that write's alone: the others succeed.
func TestGroupCommitRefusedBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := migratedPool(t)
	pid := profileMaker(pool)(t)
	plain := session.NewPostgres(pool)
	for _, l := range []string{"taken", "renewed"} {
		if err := plain.ReplaceSession(ctx, cookie.Hash{}, live(l, pid)); err != nil {
			t.Fatal(err)
		}
	}
	s := session.WithGroupCommit(session.NewPostgres(pool), time.Minute, 3)
	later := time.Now().Add(2 * time.Hour)
	errs := together(
		func() error { return s.ReplaceSession(ctx, cookie.Hash{}, live("fresh", pid)) },
		func() error { return s.ReplaceSession(ctx, cookie.Hash{}, live("taken", pid)) }, // exists: unique violation
		func() error { return s.RenewSession(ctx, hashOf("renewed"), time.Now(), later) },
	)
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the good writes failed: %v", errs)
	}
	if errs[1] == nil || authz.IsTransient(errs[1]) || errors.Is(errs[1], authz.ErrNotFound) {
		t.Fatalf("the conflicting write = %v, want a permanent error", errs[1])
	}
	if b, f := session.GroupCommits(s); b != 1 || f != 1 {
		t.Fatalf("%d batches, %d refused; want the three writes in one refused batch", b, f)
	}
	got, err := s.GetSession(ctx, hashOf("renewed"))
	if err != nil || !got.ExpiresAt.Equal(later.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("renewed session: %+v, %v", got, err)
	}
	if _, err := s.GetSession(ctx, hashOf("fresh")); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitOutcomes: in a batch that commits, each write still gets
// its own outcome: the renewal of a missing session fails with
// ErrNotFound, the others succeed, and nothing runs twice.
func TestGroupCommitOutcomes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := migratedPool(t)
	pid := profileMaker(pool)(t)
	s := session.WithGroupCommit(session.NewPostgres(pool).WithLimitPerProfile(5), time.Minute, 4)
	if err := session.NewPostgres(pool).ReplaceSession(ctx, cookie.Hash{}, live("old", pid)); err != nil {
		t.Fatal(err)
	}
	errs := together(
		func() error { return s.ReplaceSession(ctx, hashOf("old"), live("new", pid)) },
		func() error { return s.RenewSession(ctx, hashOf("missing"), time.Now(), time.Now().Add(time.Hour)) },
		func() error { return s.ReplaceSession(ctx, cookie.Hash{}, live("other", pid)) },
		func() error { return s.DeleteSession(ctx, hashOf("missing")) },
	)
	if errs[0] != nil || errs[2] != nil || errs[3] != nil || !errors.Is(errs[1], authz.ErrNotFound) {
		t.Fatalf("outcomes %v; want nil, not found, nil, nil", errs)
	}
	if b, f := session.GroupCommits(s); b != 1 || f != 0 {
		t.Fatalf("%d batches, %d refused; want one batch that committed", b, f)
	}
	got, err := s.ListByProfile(ctx, pid)
	if err != nil || len(got) != 2 {
		t.Fatalf("ListByProfile = %d sessions, %v; want new and other", len(got), err)
	}
}

// TestGroupCommitConcurrent: many requests re-keying at once with the
// default linger: every write lands, and every replaced session's
// revocation is published.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := migratedPool(t)
	newProfile := profileMaker(pool)
	s := session.NewPostgres(pool).WithLimitPerProfile(50)
	const workers, steps = 32, 10
	pids := make([]string, workers/4)
	for i := range pids {
		pids[i] = newProfile(t)
	}
	listener, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			var prev cookie.Hash
			for i := range steps {
				next := live(fmt.Sprint("c", w, "-", i), pids[w%len(pids)])
				if errs[w] = s.ReplaceSession(ctx, prev, next); errs[w] != nil {
					return
				}
				prev = next.Hash
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	want := map[notify.Event]bool{}
	for w := range workers {
		for i := range steps - 1 {
			want[notify.Session(hashOf(fmt.Sprint("c", w, "-", i)))] = true
		}
	}
	for len(want) > 0 {
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("%d revocations missing: %v", len(want), err)
		}
		e, err := notify.Parse(n.Payload)
		if err != nil || !want[e] {
			t.Fatalf("unexpected %s (%v)", n.Payload, err)
		}
		delete(want, e)
	}
	for _, pid := range pids {
		if got, err := s.ListByProfile(ctx, pid); err != nil || len(got) != 4 {
			t.Fatalf("ListByProfile = %d sessions, %v; want one per worker", len(got), err)
		}
	}
	b, _ := session.GroupCommits(s)
	t.Logf("%d writes in %d shared batches (and the rest alone)", workers*steps, b)
}

// TestGroupCommitNoCommitAfterTheDeadline: a re-key whose caller gave up at
// its deadline (the request was answered 503, the browser kept its old
// cookie) must not commit later with its batch: the old session stays and
// the new one never appears.
func TestGroupCommitNoCommitAfterTheDeadline(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := migratedPool(t)
	pid := profileMaker(pool)(t)
	s := session.NewPostgres(pool)
	if err := s.ReplaceSession(ctx, cookie.Hash{}, live("old", pid)); err != nil {
		t.Fatal(err)
	}
	// Hold the table so that the batch waits past the caller's deadline.
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE extauthz_sessions IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = s.ReplaceSession(short, hashOf("old"), live("new", pid))
	if !authz.IsTransient(err) {
		t.Fatalf("a re-key past its deadline = %v, want a transient error", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for !session.GroupCommitIdle(s) {
		time.Sleep(time.Millisecond) // poll interval
	}
	if _, err := s.GetSession(ctx, hashOf("old")); err != nil {
		t.Errorf("the old session after the abandoned re-key: %v", err)
	}
	if got, err := s.GetSession(ctx, hashOf("new")); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("the new session of the abandoned re-key = %+v, %v; want not found", got, err)
	}
}
