package profile_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/profile/profiletest"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migratedPool(t *testing.T) *pgxpool.Pool { return pgtest.MigratedPool(t) }

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	profiletest.Run(t, func(t *testing.T) profiletest.Store {
		return profile.NewPostgres(migratedPool(t))
	})
}

// TestPostgresNotifies checks that every decision-changing write publishes
// its event, from the same transaction.
func TestPostgresNotifies(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := migratedPool(t)
	listener, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	s := profile.NewPostgres(pool)
	next := func(what string) notify.Event {
		t.Helper()
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
		e, err := notify.Parse(n.Payload)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return e
	}
	p, err := s.AddProfile(ctx, "n@example.com", "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	want := notify.Profile(p.ID, "n@example.com")
	if e := next("add"); e != want {
		t.Errorf("add: %+v, want %+v", e, want)
	}
	for name, write := range map[string]func() error{
		"block":      func() error { _, err := s.SetBlocked(ctx, p.Email, true); return err },
		"unblock":    func() error { _, err := s.SetBlocked(ctx, p.Email, false); return err },
		"deactivate": func() error { _, err := s.SetActive(ctx, p.Email, false); return err },
		"activate":   func() error { _, err := s.SetActive(ctx, p.Email, true); return err },
		"delete":     func() error { return s.Delete(ctx, p.Email) },
	} {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e := next(name); e != want {
			t.Errorf("%s: %+v, want %+v", name, e, want)
		}
	}
	if _, err := s.SetEmail(ctx, p.ID, "m@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"n@example.com", "m@example.com"} {
		if e := next("set email"); e != notify.Profile(p.ID, email) {
			t.Errorf("set email: %+v, want an event for %s", e, email)
		}
	}
	r, err := s.RegisterProfile(ctx, "r@example.com", "", "open")
	if err != nil {
		t.Fatal(err)
	}
	if e := next("register"); e != notify.Profile(r.ID, r.Email) {
		t.Errorf("register: %+v", e)
	}
	// The operator's add of an auto-registered email adopts it: a change.
	if _, err := s.AddProfile(ctx, "r@example.com", "", true, false); err != nil {
		t.Fatal(err)
	}
	if e := next("adopt"); e != notify.Profile(r.ID, r.Email) {
		t.Errorf("adopt: %+v", e)
	}
	// A failed write publishes nothing: the next event is the marker.
	if _, err := s.AddProfile(ctx, "r@example.com", "", true, false); !errors.Is(err, profile.ErrExists) {
		t.Fatal(err)
	}
	if _, err := s.RegisterProfile(ctx, "r@example.com", "", "open"); err != nil { // existing: no event
		t.Fatal(err)
	}
	marker, err := s.AddProfile(ctx, "marker@example.com", "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if e := next("marker"); e.ID != marker.ID {
		t.Errorf("got %+v before the marker: a write that changed nothing published", e)
	}
}

func TestPostgresUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := pgtest.NewCluster(t)
	pool := pgtest.PoolFor(t, c.NewDatabase(t))
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := profile.NewPostgres(pool)
	if _, err := s.AddProfile(ctx, "u@example.com", "", true, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupProfile(ctx, "u@example.com"); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("LookupProfile with the server down = %v, want ErrUnavailable", err)
	}
	if _, err := s.RegisterProfile(ctx, "v@example.com", "", "open"); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("RegisterProfile with the server down = %v, want ErrUnavailable", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.LookupProfile(ctx, "u@example.com")
		if err == nil {
			break
		}
		if !errors.Is(err, authz.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
