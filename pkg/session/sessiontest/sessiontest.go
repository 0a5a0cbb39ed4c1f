// Package sessiontest is the contract test suite every session store in
// pkg/session passes (see the package documentation of pkg/session).
package sessiontest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/session"
)

// Store is the full surface of a session store.
type Store interface {
	authz.SessionStore
	ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error)
	RevokeByProfile(ctx context.Context, profileID string) (int, error)
	DeleteExpired(ctx context.Context, before time.Time, batch int) (int, error)
	Logout(ctx context.Context, lo session.Logout) (int, error)
	Logouts(ctx context.Context, now time.Time) ([]session.Logout, error)
	DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error)
}

// Harness is one empty store and a way to make profiles its sessions may
// reference.
type Harness struct {
	Store Store
	// NewProfile returns the id of a new profile (a UUID).
	NewProfile func(t *testing.T) string
	// Capped returns another empty store, over the same profiles, that
	// keeps at most n sessions per profile and app.
	Capped func(n int) Store
}

// Run runs the contract suite; newHarness returns a fresh harness for one
// (parallel) subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"NotFound", testNotFound},
		{"RoundTrip", testRoundTrip},
		{"ReplaceDeletesOld", testReplaceDeletesOld},
		{"ReplaceIsAtomic", testReplaceIsAtomic},
		{"ReplaceInvalid", testReplaceInvalid},
		{"DeleteMissing", testDeleteMissing},
		{"Renew", testRenew},
		{"RenewDeadOrGone", testRenewDeadOrGone},
		{"Bind", testBind},
		{"ListAndRevokeByProfile", testListAndRevokeByProfile},
		{"DeleteExpiredInBatches", testDeleteExpired},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
		{"CapPerProfileAndApp", testCapPerProfile},
		{"ConcurrentAtTheCap", testConcurrentAtTheCap},
		{"CapSparesASessionInUse", testCapSparesASessionInUse},
		{"BackchannelLogout", testBackchannelLogout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// hashOf returns a distinct hash per label.
func hashOf(label string) cookie.Hash { return cookie.Hash(sha256.Sum256([]byte(label))) }

// base is a fixed instant with sub-microsecond digits and a non-UTC zone,
// so round trips show the normalisation.
var base = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))

func newSession(label, profileID string, created time.Time, ttl time.Duration) authz.Session {
	return authz.Session{
		Hash:        hashOf(label),
		ProfileID:   profileID,
		IdentityKey: "key-" + label,
		Email:       label + "@example.com",
		App:         "app-" + label,
		CreatedAt:   created,
		RenewedAt:   created,
		ExpiresAt:   created.Add(ttl),
	}
}

// norm is what a store must return for s.
func norm(s authz.Session) authz.Session {
	n := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	s.CreatedAt, s.RenewedAt, s.ExpiresAt = n(s.CreatedAt), n(s.RenewedAt), n(s.ExpiresAt)
	if len(s.Stale) == 0 {
		s.Stale = nil
	}
	if len(s.Apps) == 0 {
		s.Apps = nil
	}
	return s
}

func put(t *testing.T, s Store, sess authz.Session) {
	t.Helper()
	if err := s.ReplaceSession(ctx(t), cookie.Hash{}, sess); err != nil {
		t.Fatalf("ReplaceSession: %v", err)
	}
}

func wantGone(t *testing.T, s Store, h cookie.Hash, what string) {
	t.Helper()
	if _, err := s.GetSession(ctx(t), h); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("%s: GetSession = %v, want not found", what, err)
	}
}

func wantSession(t *testing.T, s Store, want authz.Session) {
	t.Helper()
	got, err := s.GetSession(ctx(t), want.Hash)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if !reflect.DeepEqual(got, norm(want)) {
		t.Fatalf("GetSession = %+v\nwant %+v", got, norm(want))
	}
	for _, tm := range []time.Time{got.CreatedAt, got.RenewedAt, got.ExpiresAt} {
		if tm.Location() != time.UTC {
			t.Fatalf("time %v not in UTC", tm)
		}
	}
}

func testNotFound(t *testing.T, h Harness) {
	_, err := h.Store.GetSession(ctx(t), hashOf("nothing"))
	if !errors.Is(err, authz.ErrNotFound) || authz.IsTransient(err) {
		t.Fatalf("GetSession of a missing hash = %v, want not found", err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	s := newSession("rt", pid, base, time.Hour)
	s.RenewedAt = base.Add(90*time.Second + 999*time.Nanosecond)
	s.Stale = []cookie.Hash{cookie.Fingerprint("auth-token", "a"), cookie.Fingerprint("csrf", "b")}
	put(t, h.Store, s)
	wantSession(t, h.Store, s)
	s.Stale[0] = cookie.Hash{} // the store must hold its own copy
	got, err := h.Store.GetSession(ctx(t), s.Hash)
	if err != nil || got.Stale[0] != cookie.Fingerprint("auth-token", "a") {
		t.Fatalf("stale fingerprints shared with the caller: %v %v", got.Stale, err)
	}
	// An expired session is returned too: the caller judges liveness.
	old := newSession("expired", pid, base.Add(-2*time.Hour), time.Hour)
	put(t, h.Store, old)
	wantSession(t, h.Store, old)
}

func testReplaceDeletesOld(t *testing.T, h Harness) {
	pid, other := h.NewProfile(t), h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	b := newSession("b", other, base.Add(time.Minute), time.Hour)
	if err := h.Store.ReplaceSession(ctx(t), a.Hash, b); err != nil {
		t.Fatal(err)
	}
	wantGone(t, h.Store, a.Hash, "old session after replace")
	wantSession(t, h.Store, b)
	// Replacing a hash that is not stored is fine.
	c := newSession("c", pid, base, time.Hour)
	if err := h.Store.ReplaceSession(ctx(t), hashOf("never stored"), c); err != nil {
		t.Fatalf("replace of a missing old session: %v", err)
	}
	wantSession(t, h.Store, c)
	// Replacing a session by itself overwrites it.
	c2 := c
	c2.App = "other app"
	if err := h.Store.ReplaceSession(ctx(t), c.Hash, c2); err != nil {
		t.Fatalf("replace of a session by itself: %v", err)
	}
	wantSession(t, h.Store, c2)
}

func testReplaceIsAtomic(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	b := newSession("b", pid, base, time.Hour)
	put(t, h.Store, a)
	put(t, h.Store, b)
	// Creating b again fails, so deleting a must not happen either.
	err := h.Store.ReplaceSession(ctx(t), a.Hash, b)
	if err == nil {
		t.Fatal("ReplaceSession onto an existing hash succeeded")
	}
	if authz.IsTransient(err) || errors.Is(err, authz.ErrNotFound) {
		t.Errorf("duplicate hash classified %v, want permanent", err)
	}
	wantSession(t, h.Store, a)
	wantSession(t, h.Store, b)
}

func testReplaceInvalid(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	zero := newSession("z", pid, base, time.Hour)
	zero.Hash = cookie.Hash{}
	badID := newSession("bad", "not an id", base, time.Hour)
	for name, next := range map[string]authz.Session{"zero hash": zero, "malformed profile id": badID} {
		if err := h.Store.ReplaceSession(ctx(t), a.Hash, next); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("%s: ReplaceSession = %v, want ErrInvalid", name, err)
		}
	}
	wantSession(t, h.Store, a)
	// Upper-case ids are stored canonically.
	up := newSession("up", upper(pid), base, time.Hour)
	put(t, h.Store, up)
	got, err := h.Store.GetSession(ctx(t), up.Hash)
	if err != nil || got.ProfileID != pid {
		t.Errorf("profile id %q stored as %q (%v), want %q", up.ProfileID, got.ProfileID, err, pid)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func testDeleteMissing(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	if err := h.Store.DeleteSession(ctx(t), hashOf("missing")); err != nil {
		t.Fatalf("DeleteSession of a missing hash: %v", err)
	}
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	for i := range 2 {
		if err := h.Store.DeleteSession(ctx(t), a.Hash); err != nil {
			t.Fatalf("DeleteSession #%d: %v", i+1, err)
		}
	}
	wantGone(t, h.Store, a.Hash, "deleted session")
}

func testRenew(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	renewed := base.Add(30*time.Minute + 5*time.Nanosecond)
	exp := renewed.Add(2 * time.Hour)
	if err := h.Store.RenewSession(ctx(t), a.Hash, renewed, exp); err != nil {
		t.Fatal(err)
	}
	want := a
	want.RenewedAt, want.ExpiresAt = renewed, exp
	wantSession(t, h.Store, want)
	// The renewed expiry counts for GC.
	if n, err := h.Store.DeleteExpired(ctx(t), base.Add(90*time.Minute), 10); err != nil || n != 0 {
		t.Fatalf("DeleteExpired after renewal = %d, %v; want 0", n, err)
	}
	wantSession(t, h.Store, want)
}

func testRenewDeadOrGone(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	err := h.Store.RenewSession(ctx(t), hashOf("missing"), base, base.Add(time.Hour))
	if !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("renew of a missing session = %v, want not found", err)
	}
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	// At (and after) its expiry a session is dead: renewal never resurrects.
	for _, at := range []time.Time{a.ExpiresAt, a.ExpiresAt.Add(time.Second)} {
		err := h.Store.RenewSession(ctx(t), a.Hash, at, at.Add(time.Hour))
		if !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("renew at %v of a session expiring %v = %v, want not found", at, a.ExpiresAt, err)
		}
	}
	wantSession(t, h.Store, a)
	// A deleted (re-keyed) session stays deleted.
	if err := h.Store.DeleteSession(ctx(t), a.Hash); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.RenewSession(ctx(t), a.Hash, base, base.Add(time.Hour)); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("renew of a deleted session = %v, want not found", err)
	}
	wantGone(t, h.Store, a.Hash, "renewed after delete")
}

// testBind: a live session takes more apps, once each, in order, with the
// fingerprints of the cookies each binding expired; a dead or missing one
// takes none (a binding never brings back a flushed session).
func testBind(t *testing.T, h Harness) {
	c := ctx(t)
	pid := h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	a.Stale = []cookie.Hash{cookie.Fingerprint("p", "1")}
	put(t, h.Store, a)
	w1, w2 := cookie.Fingerprint("wiki_sid", "x"), cookie.Fingerprint("wiki_sid", "y")
	at := base.Add(time.Minute)
	for _, step := range []struct {
		app   string
		stale []cookie.Hash
	}{{"wiki", []cookie.Hash{w1}}, {"wiki", []cookie.Hash{w2}}, {a.App, nil}, {"tracker", nil}} {
		if err := h.Store.BindSession(c, a.Hash, step.app, step.stale, at); err != nil {
			t.Fatalf("BindSession(%s): %v", step.app, err)
		}
	}
	want := a
	want.Apps = []string{"wiki", "tracker"}
	want.Stale = []cookie.Hash{a.Stale[0], w1, w2}
	wantSession(t, h.Store, want)
	// A new session may be created bound to more apps, and keeps its own copy.
	b := newSession("b", pid, base, time.Hour)
	b.Apps = []string{"wiki"}
	put(t, h.Store, b)
	b.Apps[0] = "changed"
	b.Apps = []string{"wiki"}
	wantSession(t, h.Store, b)

	if err := h.Store.BindSession(c, hashOf("missing"), "wiki", nil, at); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("bind of a missing session = %v, want not found", err)
	}
	if err := h.Store.BindSession(c, a.Hash, "late", nil, a.ExpiresAt); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("bind of a session at its expiry = %v, want not found", err)
	}
	wantSession(t, h.Store, want)
}

// testCapPerProfile: with a cap of 3, a profile's sixth session for one app
// leaves its three newest for that app; its sessions for another app and
// other profiles' sessions are not touched.
func testCapPerProfile(t *testing.T, h Harness) {
	c := ctx(t)
	st := h.Capped(3)
	p1, p2 := h.NewProfile(t), h.NewProfile(t)
	mk := func(label, profile, app string, i int) authz.Session {
		s := newSession(label, profile, base.Add(time.Duration(i)*time.Second), time.Hour)
		s.App = app
		return s
	}
	put(t, st, mk("other-app", p1, "wiki", 0))
	put(t, st, mk("other-profile", p2, "plane", 0))
	for i := range 6 {
		put(t, st, mk(fmt.Sprint("flood-", i), p1, "plane", i+1))
	}
	for label, want := range map[string]bool{
		"flood-0": false, "flood-1": false, "flood-2": false,
		"flood-3": true, "flood-4": true, "flood-5": true,
		"other-app": true, "other-profile": true,
	} {
		_, err := st.GetSession(c, hashOf(label))
		if got := err == nil; got != want {
			t.Errorf("%s kept: %v (%v), want %v", label, got, err, want)
		}
	}
}

// testCapSparesASessionInUse: at the cap, the session revoked is the one
// least recently renewed, not the oldest: a browser signed in for weeks and
// renewed as it is used outlives a burst of new sign-ins elsewhere.
func testCapSparesASessionInUse(t *testing.T, h Harness) {
	c := ctx(t)
	st := h.Capped(3)
	pid := h.NewProfile(t)
	mk := func(label string, i int) authz.Session {
		s := newSession(label, pid, base.Add(time.Duration(i)*time.Second), time.Hour)
		s.App = "plane"
		return s
	}
	put(t, st, mk("desktop", 1))
	put(t, st, mk("phone-1", 2))
	put(t, st, mk("phone-2", 3))
	at := base.Add(4 * time.Second)
	if err := st.RenewSession(c, hashOf("desktop"), at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	put(t, st, mk("phone-3", 5))
	for label, want := range map[string]bool{"desktop": true, "phone-1": false, "phone-2": true, "phone-3": true} {
		_, err := st.GetSession(c, hashOf(label))
		if got := err == nil; got != want {
			t.Errorf("%s kept: %v (%v), want %v", label, got, err, want)
		}
	}
}

func testListAndRevokeByProfile(t *testing.T, h Harness) {
	c := ctx(t)
	p1, p2 := h.NewProfile(t), h.NewProfile(t)
	want := putProfileSessions(t, h, p1)
	other := newSession("p2", p2, base, time.Hour)
	put(t, h.Store, other)

	got, err := h.Store.ListByProfile(c, p1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListByProfile =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := h.Store.ListByProfile(c, upper(p1)); err != nil || len(got) != len(want) {
		t.Errorf("ListByProfile(upper-case id) = %d sessions, %v", len(got), err)
	}
	checkUnknownProfileIDs(c, t, h)

	n, err := h.Store.RevokeByProfile(c, p1)
	if err != nil || n != len(want) {
		t.Fatalf("RevokeByProfile = %d, %v; want %d", n, err, len(want))
	}
	for _, s := range want {
		wantGone(t, h.Store, s.Hash, "revoked session")
	}
	if got, _ := h.Store.ListByProfile(c, p1); len(got) != 0 {
		t.Errorf("ListByProfile after revoke = %v", got)
	}
	wantSession(t, h.Store, other)
	if n, err := h.Store.RevokeByProfile(c, p1); err != nil || n != 0 {
		t.Errorf("second RevokeByProfile = %d, %v; want 0", n, err)
	}
}

// putProfileSessions stores three live sessions and an expired one of
// profile pid and returns them as ListByProfile lists them, oldest first.
func putProfileSessions(t *testing.T, h Harness, pid string) []authz.Session {
	t.Helper()
	var want []authz.Session
	for i := range 3 {
		s := newSession(fmt.Sprint("p1-", i), pid, base.Add(time.Duration(3-i)*time.Minute), time.Hour)
		put(t, h.Store, s)
		want = append([]authz.Session{norm(s)}, want...) // oldest first
	}
	expired := newSession("p1-expired", pid, base.Add(-time.Hour), time.Minute)
	put(t, h.Store, expired)
	return append([]authz.Session{norm(expired)}, want...)
}

// checkUnknownProfileIDs checks that profile ids naming nobody, valid or
// not, list and revoke nothing.
func checkUnknownProfileIDs(c context.Context, t *testing.T, h Harness) {
	t.Helper()
	for _, id := range []string{"", "nope", "00000000-0000-4000-8000-000000000000"} {
		if got, err := h.Store.ListByProfile(c, id); err != nil || len(got) != 0 {
			t.Errorf("ListByProfile(%q) = %v, %v; want none", id, got, err)
		}
		if n, err := h.Store.RevokeByProfile(c, id); err != nil || n != 0 {
			t.Errorf("RevokeByProfile(%q) = %d, %v; want 0", id, n, err)
		}
	}
}

func testDeleteExpired(t *testing.T, h Harness) {
	c := ctx(t)
	pid := h.NewProfile(t)
	const dead, live = 25, 5
	for i := range dead {
		put(t, h.Store, newSession(fmt.Sprint("dead-", i), pid, base.Add(-time.Hour), time.Duration(i)*time.Second))
	}
	// Expiring exactly at "now" is dead (Live is now.Before(ExpiresAt)).
	atNow := newSession("at-now", pid, base.Add(-time.Hour), time.Hour)
	put(t, h.Store, atNow)
	var lives []authz.Session
	for i := range live {
		s := newSession(fmt.Sprint("live-", i), pid, base, time.Duration(i+1)*time.Microsecond)
		put(t, h.Store, s)
		lives = append(lives, s)
	}
	n, err := h.Store.DeleteExpired(c, base, 4) // several batches, the last one partial
	if err != nil || n != dead+1 {
		t.Fatalf("DeleteExpired = %d, %v; want %d", n, err, dead+1)
	}
	wantGone(t, h.Store, atNow.Hash, "session expiring at the GC time")
	for _, s := range lives {
		wantSession(t, h.Store, s)
	}
	if n, err := h.Store.DeleteExpired(c, base, 4); err != nil || n != 0 {
		t.Errorf("second DeleteExpired = %d, %v; want 0", n, err)
	}
	// Exactly a multiple of the batch, and the default batch size.
	if n, err := h.Store.DeleteExpired(c, base.Add(time.Duration(live)*time.Microsecond), 5); err != nil || n != live {
		t.Errorf("DeleteExpired of a full batch = %d, %v; want %d", n, err, live)
	}
	if n, err := h.Store.DeleteExpired(c, base.Add(time.Hour), 0); err != nil || n != 0 {
		t.Errorf("DeleteExpired with the default batch = %d, %v; want 0", n, err)
	}
}

// testConcurrent hammers one profile's sessions from many goroutines: each
// chain of replaces must leave exactly one session per goroutine.
func testConcurrent(t *testing.T, h Harness) {
	c := ctx(t)
	pid := h.NewProfile(t)
	const workers, steps = 8, 10
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			var prev cookie.Hash
			for i := range steps {
				s := newSession(fmt.Sprint("w", w, "-", i), pid, base, time.Hour)
				if err := h.Store.ReplaceSession(c, prev, s); err != nil {
					errs[w] = err
					return
				}
				if _, err := h.Store.GetSession(c, s.Hash); err != nil {
					errs[w] = err
					return
				}
				prev = s.Hash
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := h.Store.ListByProfile(c, pid)
	if err != nil || len(got) != workers {
		t.Fatalf("ListByProfile = %d sessions, %v; want %d", len(got), err, workers)
	}
}

// testConcurrentAtTheCap: one person signing in from many places at once,
// beyond the cap, re-keying as they go: no write fails (concurrent trims of
// one person's sessions must not deadlock), and the cap holds but for the
// sessions written at the same moment.
func testConcurrentAtTheCap(t *testing.T, h Harness) {
	c := ctx(t)
	const capN, workers, steps = 3, 8, 15
	st := h.Capped(capN)
	pid := h.NewProfile(t)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			var prev cookie.Hash
			for i := range steps {
				s := newSession(fmt.Sprint("cap-w", w, "-", i), pid, base.Add(time.Duration(i)*time.Millisecond), time.Hour)
				s.App = "plane"
				if err := st.ReplaceSession(c, prev, s); err != nil {
					errs[w] = err
					return
				}
				if i%2 == 0 {
					prev = s.Hash // every other step re-keys its own last session
				} else {
					prev = cookie.Hash{}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListByProfile(c, pid)
	if err != nil || len(got) > capN+workers {
		t.Fatalf("ListByProfile = %d sessions, %v; want at most %d", len(got), err, capN+workers)
	}
}

func testCancelledContext(t *testing.T, h Harness) {
	pid := h.NewProfile(t)
	a := newSession("a", pid, base, time.Hour)
	put(t, h.Store, a)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Store.GetSession(c, a.Hash)
	if !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("GetSession = %v, want unavailable", err)
	}
	if err := h.Store.ReplaceSession(c, a.Hash, newSession("b", pid, base, time.Hour)); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("ReplaceSession = %v, want unavailable", err)
	}
	if err := h.Store.DeleteSession(c, a.Hash); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("DeleteSession = %v, want unavailable", err)
	}
	if err := h.Store.RenewSession(c, a.Hash, base, base.Add(time.Hour)); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("RenewSession = %v, want unavailable", err)
	}
	// A transient failure changed nothing.
	wantSession(t, h.Store, a)
}

// testBackchannelLogout: a logout revokes the sessions of its sid in every
// app (or of its subject, without a sid), and of that issuer only; its
// jti is used once; the logout is kept until its time is up.
func testBackchannelLogout(t *testing.T, h Harness) {
	c := ctx(t)
	pid := h.NewProfile(t)
	mk := func(label, iss, sub, sid string) authz.Session {
		s := newSession(label, pid, base, time.Hour)
		s.Issuer, s.Subject, s.SID = iss, sub, sid
		put(t, h.Store, s)
		return s
	}
	a1 := mk("a1", "https://idp", "alice", "sid-1")
	a1b := mk("a1b", "https://idp", "alice", "sid-1") // the same IdP session, another app
	a2 := mk("a2", "https://idp", "alice", "sid-2")
	other := mk("o", "https://other", "alice", "sid-1")
	plain := mk("p", "", "", "")
	sidless := mk("n", "https://idp", "alice", "") // alice's, from a token without a sid
	bobs := mk("b", "https://idp", "bob", "")
	lo := session.Logout{Issuer: "https://idp", Subject: "alice", SID: "sid-1", JTI: "j1",
		At: base, JTIUntil: base.Add(5 * time.Minute), Until: base.Add(24 * time.Hour)}
	n, err := h.Store.Logout(c, lo)
	if err != nil || n != 3 {
		t.Fatalf("Logout = %d, %v; want 3", n, err)
	}
	wantGone(t, h.Store, a1.Hash, "sid-1")
	wantGone(t, h.Store, a1b.Hash, "sid-1, other app")
	wantGone(t, h.Store, sidless.Hash, "alice's session without a sid")
	wantSession(t, h.Store, bobs)
	wantSession(t, h.Store, a2)
	wantSession(t, h.Store, other)
	wantSession(t, h.Store, plain)
	// A replay changes nothing, whatever it names.
	replay := lo
	replay.SID = "sid-2"
	if _, err := h.Store.Logout(c, replay); !errors.Is(err, session.ErrReplay) {
		t.Fatalf("replayed jti: %v, want ErrReplay", err)
	}
	wantSession(t, h.Store, a2)
	// A subject-only logout takes the subject's sessions of that issuer.
	n, err = h.Store.Logout(c, session.Logout{Issuer: "https://idp", Subject: "alice", JTI: "j2",
		At: base, JTIUntil: base.Add(5 * time.Minute), Until: base.Add(time.Hour)})
	if err != nil || n != 1 {
		t.Fatalf("subject logout = %d, %v; want 1", n, err)
	}
	wantGone(t, h.Store, a2.Hash, "subject logout")
	wantSession(t, h.Store, other)
	checkLogoutsKept(t, h, lo)
}

// checkLogoutsKept: the logouts are listed until their time is up, then
// forgotten with their jtis; a logout naming neither subject nor sid is
// refused.
func checkLogoutsKept(t *testing.T, h Harness, lo session.Logout) {
	t.Helper()
	c := ctx(t)
	los, err := h.Store.Logouts(c, base.Add(2*time.Hour))
	if err != nil || len(los) != 1 || los[0].SID != "sid-1" || !los[0].At.Equal(base.Truncate(time.Microsecond)) {
		t.Fatalf("Logouts = %+v, %v; want the sid-1 logout only", los, err)
	}
	if _, err := h.Store.DeleteExpiredLogouts(c, base.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if los, _ := h.Store.Logouts(c, base); len(los) != 0 {
		t.Fatalf("after DeleteExpiredLogouts: %+v", los)
	}
	// The jti is forgotten with it: the token could not be accepted anyway.
	if _, err := h.Store.Logout(c, lo); err != nil {
		t.Fatalf("jti after its time: %v", err)
	}
	if _, err := h.Store.Logout(c, session.Logout{Issuer: "https://idp", JTI: "j3"}); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("no subject or sid: %v", err)
	}
}
