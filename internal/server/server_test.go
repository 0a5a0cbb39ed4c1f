package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/explain"
	"github.com/extauthz/extauthz/pkg/metrics"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testConfig is the default configuration on loopback ports chosen by the
// kernel, with generous timeouts: these tests judge the wiring, not speed.
func testConfig() config.Config {
	cfg := config.Default()
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.LookupTimeout, cfg.EnvoyTimeout = 10*time.Second, 20*time.Second
	cfg.ShutdownDelay = 0
	cfg.ChangeFeed = false
	return cfg
}

func newServer(t *testing.T, cfg config.Config, out *lockedBuffer) *Server {
	t.Helper()
	o := Options{Version: "test"}
	if out != nil {
		o.Output = out
	}
	s, err := New(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// storeQueries is how many operations op of store reached the store, as
// extauthz_store_query_duration_seconds counts them.
func storeQueries(t *testing.T, s *Server, store, op string) uint64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "extauthz_store_query_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["store"] == store && labels["op"] == op {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// The cache sits outside the metrics decorator: a hit is counted as a hit,
// makes no trip to PostgreSQL and is not counted as a store query.
func TestCacheHitRecordsMetricAndSkipsStore(t *testing.T) {
	cfg := testConfig()
	cfg.DatabaseURL, cfg.Migrate = pgtest.URL(t), true
	s := newServer(t, cfg, nil)
	ctx := context.Background()
	if _, err := s.stores.profiles.AddProfile(ctx, "alice@example.com", "Alice", true, false); err != nil {
		t.Fatal(err)
	}
	src := s.apps[0].Profiles
	if _, err := src.LookupProfile(ctx, "alice@example.com"); err != nil {
		t.Fatalf("first lookup: %v", err)
	}
	acquires := s.stores.pool.Stat().AcquireCount()
	p, err := src.LookupProfile(ctx, "alice@example.com")
	if err != nil || p.Email != "alice@example.com" {
		t.Fatalf("second lookup = %+v, %v", p, err)
	}
	if got := s.stores.pool.Stat().AcquireCount(); got != acquires {
		t.Errorf("the cache hit acquired %d connection(s), want none", got-acquires)
	}
	if got := testutil.ToFloat64(s.metrics.CacheHits.WithLabelValues("profiles")); got != 1 {
		t.Errorf("cache hits = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.CacheMisses.WithLabelValues("profiles")); got != 1 {
		t.Errorf("cache misses = %v, want 1", got)
	}
	if got := storeQueries(t, s, metrics.StoreProfiles, "lookup"); got != 1 {
		t.Errorf("store lookups measured = %d, want 1 (the miss only)", got)
	}
}

// The in-memory store is memory already: it gets no cache, whatever
// cache_memory says, and the engine reads it through the metrics decorator.
func TestMemoryStoresAreNotCached(t *testing.T) {
	cfg := testConfig()
	cfg.SeedProfiles = []config.SeedProfile{{Email: "alice@example.com", Active: true}}
	s := newServer(t, cfg, nil)
	if s.caches.on {
		t.Fatal("caches on without a database")
	}
	if _, err := s.apps[0].Profiles.LookupProfile(context.Background(), "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := storeQueries(t, s, metrics.StoreProfiles, "lookup"); got != 1 {
		t.Errorf("store lookups measured = %d, want 1", got)
	}
}

// An app reading its own database gets one pool, which the engine and the
// explainer (extauthz check, the admin API's Explain) share.
func TestSQLSourceOpensOnePool(t *testing.T) {
	appDB := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, appDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE profile (id text PRIMARY KEY, email text UNIQUE, active bool, blocked bool);
INSERT INTO profile VALUES ('p1', 'alice@example.com', true, false);`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Apps["penpot"] = config.App{ProfileSource: config.ProfileSource{
		Kind: config.SourceSQL, DatabaseURL: appDB, Timeout: 10 * time.Second,
		Query: "SELECT id, active, blocked FROM profile WHERE email = $1",
	}}
	s := newServer(t, cfg, nil)
	if len(s.closers) != 1 {
		t.Fatalf("%d app pools opened, want 1", len(s.closers))
	}

	var src authz.ProfileSource
	for _, a := range s.apps {
		if a.Policy.App == "penpot" {
			src = a.Profiles
		}
	}
	if p, err := src.LookupProfile(ctx, "alice@example.com"); err != nil || p.ID != "p1" {
		t.Fatalf("engine's lookup = %+v, %v", p, err)
	}
	res, err := s.Explainer().Explain(ctx, explain.Request{App: "penpot", Method: "GET", Path: "/", Host: "design.example.com",
		Headers: []authz.Header{{Name: "x-auth-request-email", Value: "alice@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision.Reason == authz.ReasonLookupUnavailable {
		t.Fatalf("explainer could not read the app's database: %+v", res.Decision)
	}
	var backends int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&backends); err != nil {
		t.Fatal(err)
	}
	if backends != 1 {
		t.Errorf("%d connections to the app's database after a lookup by the engine and one by the explainer, want 1 (one pool)", backends)
	}
	if got := storeQueries(t, s, metrics.StoreAppSQL, "lookup"); got != 2 {
		t.Errorf("app_sql lookups measured = %d, want 2", got)
	}
}

// The session collector deletes in batches of gcBatch until one comes back
// short, all with one cutoff.
func TestCollectGarbageInBatches(t *testing.T) {
	fake := &expiringSessions{results: []int{gcBatch, gcBatch, 3}}
	s := &Server{stores: &Stores{sessions: fake}, log: NewLogger(config.Log{}, &bytes.Buffer{})}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.collectOnce(context.Background(), now)
	if len(fake.calls) != 3 {
		t.Fatalf("%d DeleteExpired calls, want 3", len(fake.calls))
	}
	for i, c := range fake.calls {
		if c.batch != gcBatch || !c.before.Equal(now) {
			t.Errorf("call %d = %+v, want batch %d before %v", i, c, gcBatch, now)
		}
	}
}

type deleteCall struct {
	before time.Time
	batch  int
}

type expiringSessions struct {
	sessionStore // only DeleteExpired is called
	results      []int
	calls        []deleteCall
}

func (e *expiringSessions) DeleteExpired(_ context.Context, before time.Time, batch int) (int, error) {
	e.calls = append(e.calls, deleteCall{before, batch})
	n := e.results[0]
	e.results = e.results[1:]
	return n, nil
}

// Run in process, in memory: the "serving" line names every bound address,
// the Check service and /readyz serve at once, an HTTP check is decided,
// and cancelling the context drains and returns nil.
func TestRunServesAndDrains(t *testing.T) {
	cfg := testConfig()
	cfg.CheckAddr = "127.0.0.1:0"
	cfg.SeedProfiles = []config.SeedProfile{{Email: "alice@example.com", Active: true}}
	out := &lockedBuffer{}
	s := newServer(t, cfg, out)
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	serving := waitForLine(t, out, "serving")
	for k, want := range map[string]any{"grpc_addr": addrs.GRPC, "http_addr": addrs.HTTP, "check_addr": addrs.Check,
		"admin_addr": "", "version": "test", "database": false} {
		if serving[k] != want {
			t.Errorf("serving %s = %v, want %v", k, serving[k], want)
		}
	}
	conn, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check service health = %v, %v; want SERVING", hr.GetStatus(), err)
	}
	if code := get(t, "http://"+addrs.HTTP+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", code)
	}
	if code := get(t, "http://"+addrs.Check+"/check", http.Header{
		"X-Forwarded-Uri": {"/"}, "X-Auth-Request-Email": {"alice@example.com"},
	}); code == 0 || code >= 500 {
		t.Errorf("/check = %d, want a decision", code)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped line in\n%s", out.String())
	}
}

// A listener that cannot be bound fails Run with the key named, and frees
// the ones already bound.
func TestListenNamesTheKey(t *testing.T) {
	taken := newServer(t, testConfig(), nil)
	addrs, err := taken.Listen()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.CheckAddr = addrs.HTTP
	s := newServer(t, cfg, nil)
	if _, err := s.Listen(); err == nil || !strings.HasPrefix(err.Error(), "check_addr: ") {
		t.Fatalf("Listen = %v, want a check_addr error", err)
	}
	taken.ls.close()
}

func get(t *testing.T, url string, h http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitForLine polls out for the JSON log line whose msg is msg.
func waitForLine(t *testing.T, out *lockedBuffer, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q line in\n%s", msg, out.String())
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cache_memory is one budget for every cache; the deprecated cache_size,
// when set, still caps entries (0 still turns the caches off) and is
// warned about.
func TestCacheMemoryKeys(t *testing.T) {
	dbURL := pgtest.URL(t)
	for _, tt := range []struct {
		name        string
		memory      config.ByteSize
		size        int
		on, warning bool
	}{
		{"defaults", config.DefaultCacheMemory, config.CacheSizeUnset, true, false},
		{"cache_memory 0", 0, config.CacheSizeUnset, false, false},
		{"cache_size 0", config.DefaultCacheMemory, 0, false, true},
		{"cache_size as a cap", 64 << 20, 1000, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DatabaseURL, cfg.Migrate = dbURL, true
			cfg.CacheMemory, cfg.CacheSize = tt.memory, tt.size
			out := &lockedBuffer{}
			s := newServer(t, cfg, out)
			if s.caches.on != tt.on {
				t.Fatalf("caches on = %v, want %v", s.caches.on, tt.on)
			}
			if tt.on && s.caches.budget.Limit() != int64(tt.memory) {
				t.Errorf("budget %d, want %d", s.caches.budget.Limit(), tt.memory)
			}
			if warned := strings.Contains(out.String(), "cache_size is deprecated"); warned != tt.warning {
				t.Errorf("deprecation warning %v, want %v:\n%s", warned, tt.warning, out.String())
			}
		})
	}
}

// With a Go memory limit (GOMEMLIMIT, from the container's limit) the
// caches take at most half of it.
func TestCacheBudgetWithinTheMemoryLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct{ configured, goLimit, want int64 }{
		{256 << 20, math.MaxInt64, 256 << 20},
		{256 << 20, 256 << 20, 128 << 20},
		{64 << 20, 256 << 20, 64 << 20},
	} {
		if got := cacheBudget(tt.configured, tt.goLimit, log); got != tt.want {
			t.Errorf("cacheBudget(%d, %d) = %d, want %d", tt.configured, tt.goLimit, got, tt.want)
		}
	}
}
