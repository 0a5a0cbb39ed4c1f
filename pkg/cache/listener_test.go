package cache_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cache"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(2 * time.Millisecond) // poll interval
	}
}

type gauge struct {
	mu sync.Mutex
	v  float64
}

func (g *gauge) Set(v float64) { g.mu.Lock(); g.v = v; g.mu.Unlock() }
func (g *gauge) get() float64  { g.mu.Lock(); defer g.mu.Unlock(); return g.v }

type observer struct {
	mu sync.Mutex
	n  int
}

func (o *observer) Observe(float64) { o.mu.Lock(); o.n++; o.mu.Unlock() }
func (o *observer) count() int      { o.mu.Lock(); defer o.mu.Unlock(); return o.n }

// runListener starts l and stops it (waiting for Run to return, so its
// connection is closed before the database is dropped) in t's cleanup.
func runListener(t *testing.T, l *cache.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func migrated(t *testing.T, dbURL string) *pgxpool.Pool {
	pool := pgtest.PoolFor(t, dbURL)
	if err := migrations.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestListenerInvalidatesAndSurvivesTermination(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.URL(t)
	pool := migrated(t, dbURL)
	profiles := profile.NewPostgres(pool)
	sessions := session.NewPostgres(pool)
	pc := cache.NewProfiles(profiles, cache.Options{TTL: time.Hour})
	sc := cache.NewSessions(sessions, cache.Options{TTL: time.Hour})
	up, lag := &gauge{}, &observer{}
	l := cache.NewListener(cache.ListenerConfig{
		DatabaseURL: dbURL, Caches: []cache.Invalidator{pc, sc}, Up: up, Lag: lag,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Keepalive: 20 * time.Millisecond, // many keepalive pings during the test
	})
	if err := l.Ready(ctx); err == nil {
		t.Fatal("Ready before Run = nil")
	}
	runListener(t, l)
	eventually(t, "listener up", 10*time.Second, l.Up)
	if err := l.Ready(ctx); err != nil || up.get() != 1 {
		t.Fatalf("Ready = %v, up gauge %v", err, up.get())
	}

	p, err := profiles.AddProfile(ctx, "a@example.com", "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	h := cookie.Hash(sha256.Sum256([]byte("token")))
	now := time.Now()
	if err := sessions.ReplaceSession(ctx, cookie.Hash{}, authz.Session{Hash: h, ProfileID: p.ID,
		IdentityKey: p.Email, Email: p.Email, App: "default", CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The add's own event may still be on its way: wait for it, then warm.
	eventually(t, "add event applied", 10*time.Second, func() bool { return l.Events() >= 1 })
	warm := func() {
		t.Helper()
		if got, err := pc.LookupProfile(ctx, p.Email); err != nil || got.Blocked {
			t.Fatalf("warm profile: %+v, %v", got, err)
		}
		if _, err := sc.GetSession(ctx, h); err != nil {
			t.Fatalf("warm session: %v", err)
		}
	}
	warm()

	// A change made behind the caches (another replica) reaches them.
	if _, err := profiles.SetBlocked(ctx, p.Email, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "block seen through the cache", 5*time.Second, func() bool {
		got, err := pc.LookupProfile(ctx, p.Email)
		return err == nil && got.Blocked
	})
	if _, err := sessions.RevokeByProfile(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation seen through the cache", 5*time.Second, func() bool {
		_, err := sc.GetSession(ctx, h)
		return errors.Is(err, authz.ErrNotFound)
	})
	if lag.count() == 0 {
		t.Error("no invalidation lag observed")
	}

	// Kill the LISTEN connection: the listener reconnects and purges.
	if _, err := profiles.SetBlocked(ctx, p.Email, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unblock seen", 5*time.Second, func() bool {
		got, err := pc.LookupProfile(ctx, p.Email)
		return err == nil && !got.Blocked
	})
	if pc.Len() == 0 {
		t.Fatal("nothing cached before the termination")
	}
	if n := l.Connects(); n != 1 {
		t.Fatalf("Connects = %d before termination (keepalive must not reconnect)", n)
	}
	var terminated int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, cache.ApplicationName).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
	if terminated != 1 {
		t.Fatalf("terminated %d listener backends, want 1", terminated)
	}
	eventually(t, "reconnected", 10*time.Second, func() bool { return l.Connects() == 2 && l.Up() })
	if n := pc.Len() + sc.Len(); n != 0 {
		t.Fatalf("%d entries survived the reconnect", n)
	}
	// Invalidation resumes on the new connection.
	if got, err := pc.LookupProfile(ctx, p.Email); err != nil || got.Blocked {
		t.Fatalf("after reconnect: %+v, %v", got, err)
	}
	if _, err := profiles.SetBlocked(ctx, p.Email, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "block seen after reconnect", 5*time.Second, func() bool {
		got, err := pc.LookupProfile(ctx, p.Email)
		return err == nil && got.Blocked
	})
	if n := l.Connects(); n != 2 {
		t.Errorf("Connects = %d, want 2", n)
	}
}

func TestListenerServerRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := pgtest.NewCluster(t)
	dbURL := c.NewDatabase(t)
	pool := migrated(t, dbURL)
	profiles := profile.NewPostgres(pool)
	if _, err := profiles.AddProfile(ctx, "b@example.com", "", true, false); err != nil {
		t.Fatal(err)
	}
	feed := cache.NewFeed()
	pc := cache.NewProfiles(profiles, cache.Options{TTL: time.Hour, Feed: feed})
	up := &gauge{}
	l := cache.NewListener(cache.ListenerConfig{
		DatabaseURL: dbURL, Caches: []cache.Invalidator{pc}, Up: up, Feed: feed,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	runListener(t, l)
	eventually(t, "listener up", 10*time.Second, l.Up)
	if !feed.Up() {
		t.Fatal("the caches' feed is down while the listener is up")
	}
	if _, err := pc.LookupProfile(ctx, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listener down", 10*time.Second, func() bool { return !l.Up() })
	if err := l.Ready(ctx); err == nil || !strings.Contains(err.Error(), "change feed down") || up.get() != 0 || feed.Up() {
		t.Fatalf("Ready while down = %v, gauge %v, feed up %v", err, up.get(), feed.Up())
	}
	// The caches keep answering within their TTL while the feed is down.
	if got, err := pc.LookupProfile(ctx, "b@example.com"); err != nil || got.Email != "b@example.com" {
		t.Fatalf("cached answer with the server down: %+v, %v", got, err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listener back", 30*time.Second, func() bool { return l.Up() && l.Connects() == 2 && feed.Up() })
	if pc.Len() != 0 {
		t.Fatal("caches not purged on reconnect")
	}
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("Ready after reconnect = %v", err)
	}
}

// syncLog collects JSON log lines from any goroutine.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncLog) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}
func (s *syncLog) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A change feed that cannot connect says so at WARN with the cause at once
// (before, a feed that had never connected logged only at DEBUG), then at
// most every 30 s however often it retries, and at INFO with how long it
// was down when it connects.
func TestListenerReportsOutageAtWarnAndReconnectAtInfo(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	var clockMu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	logs := &syncLog{}
	l := cache.NewListener(cache.ListenerConfig{
		DatabaseURL: cluster.URL("postgres"),
		Log:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         clock,
		MinBackoff:  time.Millisecond, MaxBackoff: 2 * time.Millisecond,
	})
	runListener(t, l)
	eventually(t, "5 failed connects", 10*time.Second, func() bool { return logs.count("connect failed") >= 5 })
	if n := logs.count(`"level":"WARN"`); n != 1 {
		t.Fatalf("%d WARN lines after %d failed connects within the same second, want 1:\n%s", n, logs.count("connect failed"), logs)
	}
	if !strings.Contains(logs.String(), "connect: connection refused") {
		t.Errorf("the warning does not name the cause:\n%s", logs)
	}
	advance(30 * time.Second)
	eventually(t, "second warning 30 s on", 10*time.Second, func() bool { return logs.count(`"level":"WARN"`) == 2 })
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connected", 30*time.Second, l.Up)
	if n := logs.count(`"level":"INFO","msg":"change feed connected again`); n != 1 || !strings.Contains(logs.String(), `"outage_seconds":30`) {
		t.Fatalf("reconnect: want one INFO with outage_seconds 30:\n%s", logs)
	}
}
