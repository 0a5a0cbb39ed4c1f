package session_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/session/sessiontest"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migratedPool(t testing.TB) *pgxpool.Pool { return pgtest.MigratedPool(t) }

// profileMaker adds profiles through the real profile store, so sessions
// satisfy their foreign key.
func profileMaker(pool *pgxpool.Pool) func(t *testing.T) string {
	profiles := profile.NewPostgres(pool)
	return func(t *testing.T) string {
		t.Helper()
		p, err := profiles.AddProfile(t.Context(), randomUUID(t)+"@example.com", "", true, false)
		if err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
}

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(t *testing.T) sessiontest.Harness {
		pool := migratedPool(t)
		return sessiontest.Harness{Store: session.NewPostgres(pool), NewProfile: profileMaker(pool),
			Capped: func(n int) sessiontest.Store { return session.NewPostgres(pool).WithLimitPerProfile(n) }}
	})
}

func hashOf(s string) cookie.Hash { return cookie.Hash(sha256.Sum256([]byte(s))) }

func TestPostgresExternalProfileIDs(t *testing.T) {
	// Profiles of an app's own database (profile source kind sql) are not
	// rows of extauthz_profiles and their ids need not be UUIDs.
	t.Parallel()
	pool := migratedPool(t)
	s := session.NewPostgres(pool)
	now := time.Now()
	for i, id := range []string{"42", "00000000-0000-4000-8000-000000000000", "user:alice"} {
		h := hashOf("external-" + id)
		if err := s.ReplaceSession(t.Context(), cookie.Hash{}, authz.Session{
			Hash: h, ProfileID: id, CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour),
		}); err != nil {
			t.Fatalf("#%d %q: %v", i, id, err)
		}
		got, err := s.GetSession(t.Context(), h)
		if err != nil || got.ProfileID != id {
			t.Fatalf("#%d: got %q, %v", i, got.ProfileID, err)
		}
	}
}

// TestPostgresNotifies checks that every decision-changing write publishes
// one event per affected session, from the same transaction.
func TestPostgresNotifies(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := migratedPool(t)
	pid := profileMaker(pool)(t)
	listener, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	expect := func(what string, hashes ...cookie.Hash) {
		t.Helper()
		want := map[notify.Event]bool{}
		for _, h := range hashes {
			want[notify.Session(h)] = true
		}
		for len(want) > 0 {
			n, err := listener.WaitForNotification(ctx)
			if err != nil {
				t.Fatalf("%s: waiting for %v: %v", what, want, err)
			}
			e, err := notify.Parse(n.Payload)
			if err != nil || !want[e] {
				t.Fatalf("%s: unexpected %s (%v); want %v", what, n.Payload, err, want)
			}
			delete(want, e)
		}
	}
	s := session.NewPostgres(pool)
	now := time.Now()
	mk := func(label string) authz.Session {
		return authz.Session{Hash: hashOf(label), ProfileID: pid, CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	// Creating publishes nothing (nobody can have cached a fresh token);
	// the marker after each step proves nothing extra was sent.
	marker := func() {
		t.Helper()
		if _, err := pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, notify.Token(hashOf("marker")).Payload()); err != nil {
			t.Fatal(err)
		}
		n, err := listener.WaitForNotification(ctx)
		if err != nil || n.Payload != notify.Token(hashOf("marker")).Payload() {
			t.Fatalf("expected the marker, got %v, %v", n, err)
		}
	}
	for _, l := range []string{"a", "b", "c"} {
		if err := s.ReplaceSession(ctx, cookie.Hash{}, mk(l)); err != nil {
			t.Fatal(err)
		}
	}
	marker()
	if err := s.ReplaceSession(ctx, hashOf("a"), mk("a2")); err != nil {
		t.Fatal(err)
	}
	expect("replace", hashOf("a"))
	marker()
	if err := s.RenewSession(ctx, hashOf("b"), now, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	expect("renew", hashOf("b"))
	marker()
	if err := s.DeleteSession(ctx, hashOf("c")); err != nil {
		t.Fatal(err)
	}
	expect("delete", hashOf("c"))
	if err := s.DeleteSession(ctx, hashOf("c")); err != nil { // missing: no event
		t.Fatal(err)
	}
	marker()
	if n, err := s.RevokeByProfile(ctx, pid); err != nil || n != 2 {
		t.Fatalf("RevokeByProfile = %d, %v", n, err)
	}
	expect("revoke", hashOf("a2"), hashOf("b"))
	marker()
}

func TestPostgresUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := pgtest.NewCluster(t)
	pool := pgtest.PoolFor(t, c.NewDatabase(t))
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := session.NewPostgres(pool)
	pid := profileMaker(pool)(t)
	now := time.Now()
	a := authz.Session{Hash: hashOf("a"), ProfileID: pid, CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.ReplaceSession(ctx, cookie.Hash{}, a); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]func() error{
		"get":     func() error { _, err := s.GetSession(ctx, a.Hash); return err },
		"replace": func() error { return s.ReplaceSession(ctx, a.Hash, authz.Session{Hash: hashOf("b"), ProfileID: pid}) },
		"delete":  func() error { return s.DeleteSession(ctx, a.Hash) },
		"renew":   func() error { return s.RenewSession(ctx, a.Hash, now, now.Add(time.Hour)) },
		"gc":      func() error { _, err := s.DeleteExpired(ctx, now, 10); return err },
	}
	for name, check := range checks {
		if err := check(); !errors.Is(err, authz.ErrUnavailable) {
			t.Errorf("%s with the server down = %v, want ErrUnavailable", name, err)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.GetSession(ctx, a.Hash)
		if err == nil {
			if got.ProfileID != pid {
				t.Fatalf("after restart: %+v", got)
			}
			break
		}
		if !errors.Is(err, authz.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
