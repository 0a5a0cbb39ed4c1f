package profile_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
)

// lookupAll looks emails up at once and returns each answer.
func lookupAll(t *testing.T, s *profile.Postgres, emails ...string) ([]authz.Profile, []error) {
	ps, errs := make([]authz.Profile, len(emails)), make([]error, len(emails))
	var wg sync.WaitGroup
	for i, e := range emails {
		wg.Go(func() { ps[i], errs[i] = s.LookupProfile(t.Context(), e) })
	}
	wg.Wait()
	return ps, errs
}

// TestLookupsShareAQuery: concurrent lookups of known and unknown emails
// go as one query, and each caller gets its own answer.
func TestLookupsShareAQuery(t *testing.T) {
	t.Parallel()
	pool := migratedPool(t)
	plain := profile.NewPostgres(pool)
	a, err := plain.AddProfile(t.Context(), "a@example.com", "A", true, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plain.AddProfile(t.Context(), "b@example.com", "B", false, true)
	if err != nil {
		t.Fatal(err)
	}
	s := profile.WithBatchedLookups(profile.NewPostgres(pool), 2*time.Second, 4) // four distinct emails; a late duplicate goes alone
	ps, errs := lookupAll(t, s, "a@example.com", "nobody@example.com", "b@example.com", "a@example.com", "other@example.com")
	for i, want := range []authz.Profile{a, {}, b, a, {}} {
		if want.ID == "" {
			if !errors.Is(errs[i], authz.ErrNotFound) {
				t.Errorf("#%d: %+v, %v; want not found", i, ps[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || ps[i].ID != want.ID || ps[i].Email != want.Email || ps[i].Active != want.Active || ps[i].Blocked != want.Blocked {
			t.Errorf("#%d: %+v, %v; want %+v", i, ps[i], errs[i], want)
		}
	}
	if n, f := profile.LookupBatches(s); n != 1 || f != 0 {
		t.Fatalf("%d batches, %d refused; want the five lookups in one query", n, f)
	}
}

// TestLookupsRefusedBatch: an email the server cannot take (a NUL byte is
// not text) fails its own lookup only; the others in its batch are
// answered.
func TestLookupsRefusedBatch(t *testing.T) {
	t.Parallel()
	pool := migratedPool(t)
	a, err := profile.NewPostgres(pool).AddProfile(t.Context(), "a@example.com", "A", true, false)
	if err != nil {
		t.Fatal(err)
	}
	s := profile.WithBatchedLookups(profile.NewPostgres(pool), time.Minute, 3)
	ps, errs := lookupAll(t, s, "a@example.com", "bad\x00@example.com", "nobody@example.com")
	if errs[0] != nil || ps[0].ID != a.ID || !errors.Is(errs[2], authz.ErrNotFound) {
		t.Fatalf("the good lookups: %+v %v, %v", ps[0], errs[0], errs[2])
	}
	if errs[1] == nil || errors.Is(errs[1], authz.ErrNotFound) || authz.IsTransient(errs[1]) {
		t.Fatalf("the bad email = %v, want a permanent error", errs[1])
	}
	if n, f := profile.LookupBatches(s); n != 1 || f != 1 {
		t.Fatalf("%d batches, %d refused; want one refused batch", n, f)
	}
}
