package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/metrics"
)

// newMetrics returns metrics for the apps plane and wiki on a fresh registry.
func newMetrics(t *testing.T) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return reg, metrics.New(reg, metrics.Options{Apps: []string{"default", "plane", "wiki"}, Version: "v1.2.3"})
}

// golden compares the named metrics of reg with testdata/<name>.prom.
func golden(t *testing.T, reg prometheus.Gatherer, name string, metricNames ...string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".prom"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(reg, f, metricNames...); err != nil {
		t.Error(err)
	}
}

func TestDecisionsByAppOutcomeReasonFrontend(t *testing.T) {
	reg, m := newMetrics(t)
	m.ObserveDecision(metrics.FrontendGRPC, authz.Decision{App: "plane", Allow: true, Status: 200, Reason: authz.ReasonSessionMatch}, time.Millisecond)
	m.ObserveDecision(metrics.FrontendGRPC, authz.Decision{App: "plane", Allow: true, Status: 200, Reason: authz.ReasonSessionMatch}, time.Millisecond)
	m.ObserveDecision(metrics.FrontendHTTP, authz.Decision{App: "wiki", Status: 503, Reason: authz.ReasonLookupUnavailable}, time.Millisecond)
	m.ObserveDecision(metrics.FrontendGRPC, authz.Decision{App: "default", Status: 403, Reason: authz.ReasonProfileBlocked}, time.Millisecond)
	golden(t, reg, "decisions", "extauthz_decisions_total")
}

// An app name outside the configuration (a typo in an Envoy route, or a
// client-chosen HTTP-mode value) never becomes a label value of its own.
func TestUnknownAppFoldsIntoOneLabel(t *testing.T) {
	reg, m := newMetrics(t)
	for i := range 50 {
		m.ObserveDecision(metrics.FrontendHTTP, authz.Decision{App: fmt.Sprintf("attacker-%d", i), Allow: true, Status: 200, Reason: authz.ReasonRekey, Rekeyed: true}, time.Millisecond)
	}
	golden(t, reg, "unknown_app", "extauthz_decisions_total", "extauthz_sessions_rekeyed_total")
}

func TestRekeysAndFlushesByMode(t *testing.T) {
	reg, m := newMetrics(t)
	obs := func(d authz.Decision) { m.ObserveDecision(metrics.FrontendGRPC, d, time.Millisecond) }
	// First visit: a new session, nothing flushed.
	obs(authz.Decision{App: "plane", Allow: true, Status: 200, Reason: authz.ReasonRekey, Rekeyed: true})
	// Identity change, browser navigation: flush by redirect.
	obs(authz.Decision{App: "plane", Status: 302, Reason: authz.ReasonIdentityChanged, Flushed: true})
	// Identity change, XHR: flush with a deny 401.
	obs(authz.Decision{App: "plane", Status: 401, Reason: authz.ReasonIdentityChanged, Flushed: true})
	// Blocked profile: flush with its 403.
	obs(authz.Decision{App: "wiki", Status: 403, Reason: authz.ReasonProfileBlocked, Flushed: true})
	// Inline mode: allowed and re-keyed while flushing.
	obs(authz.Decision{App: "wiki", Allow: true, Status: 200, Reason: authz.ReasonIdentityChanged, Flushed: true, Rekeyed: true})
	golden(t, reg, "rekeys_flushes", "extauthz_sessions_rekeyed_total", "extauthz_flushes_total")
}

// fakeSessions fails with the error its get field returns.
type fakeSessions struct {
	authz.SessionStore
	err error
}

func (f fakeSessions) GetSession(context.Context, cookie.Hash) (authz.Session, error) {
	return authz.Session{}, f.err
}

type fakeProfiles struct{ err error }

func (f fakeProfiles) LookupProfile(context.Context, string) (authz.Profile, error) {
	return authz.Profile{}, f.err
}

func (f fakeProfiles) RegisterProfile(context.Context, string, string, string) (authz.Profile, error) {
	return authz.Profile{}, f.err
}

// Store errors are counted by class through the store decorators: "not
// found" is an answer, not an error; transient failures are "unavailable";
// the rest "permanent".
func TestStoreErrorsByClass(t *testing.T) {
	reg, m := newMetrics(t)
	ctx := context.Background()
	for _, err := range []error{
		nil,
		authz.ErrNotFound,
		fmt.Errorf("dial: %w", authz.ErrUnavailable),
		fmt.Errorf("timeout: %w", authz.ErrUnavailable),
		errors.New("syntax error at or near"),
	} {
		_, _ = metrics.Sessions{Next: fakeSessions{err: err}, M: m}.GetSession(ctx, cookie.Hash{})
		_, _ = metrics.Profiles{Next: fakeProfiles{err: err}, M: m, Store: metrics.StoreProfiles}.LookupProfile(ctx, "a@example.com")
	}
	golden(t, reg, "store_errors", "extauthz_store_errors_total")
	// Every call was timed, error or not.
	if n := testutil.CollectAndCount(reg, "extauthz_store_query_duration_seconds"); n != 2 {
		t.Errorf("store_query_duration series = %d, want 2 (profiles/lookup, sessions/get)", n)
	}
}

func TestBuildInfo(t *testing.T) {
	reg, _ := newMetrics(t)
	// goversion is the toolchain's; compare the rest.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "extauthz_build_info" {
			continue
		}
		got := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range got.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["version"] != "v1.2.3" || !strings.HasPrefix(labels["goversion"], "go") || got.GetGauge().GetValue() != 1 {
			t.Errorf("build_info = %v %v", labels, got.GetGauge().GetValue())
		}
		return
	}
	t.Error("extauthz_build_info missing")
}

// Lint the whole exposition the way promtool does (metric and label naming,
// help texts, counter suffixes).
func TestExpositionLints(t *testing.T) {
	reg, m := newMetrics(t)
	m.ObserveDecision(metrics.FrontendGRPC, authz.Decision{App: "plane", Allow: true, Status: 200, Reason: authz.ReasonSessionMatch}, time.Millisecond)
	m.ObserveStore(metrics.StoreSessions, "get", time.Millisecond, nil)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestWatchCache(t *testing.T) {
	reg, m := newMetrics(t)
	n := 3
	m.WatchCache("sessions", func() int { return n })
	m.WatchCache("profiles", func() int { return 1 })
	n = 7 // read at scrape time, not at registration
	want := `
# HELP extauthz_cache_entries Entries held by the in-process cache (expired ones not yet dropped included), by cache.
# TYPE extauthz_cache_entries gauge
extauthz_cache_entries{cache="profiles"} 1
extauthz_cache_entries{cache="sessions"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "extauthz_cache_entries"); err != nil {
		t.Fatal(err)
	}
}

// The series the README's alerts use exist at 0 from the start, before the
// first failure: a rate() over a series that appears only with the first
// failure misses that failure, and an absent() alert cannot tell "never
// failed" from "not scraped".
func TestAlertedSeriesExistAtZeroFromStart(t *testing.T) {
	reg, _ := newMetrics(t)
	want := map[string]bool{}
	for _, app := range []string{"default", "plane", "wiki"} {
		for _, fe := range []string{"grpc", "http"} {
			for _, reason := range []string{"lookup_unavailable", "lookup_error"} {
				want["extauthz_decisions_total "+app+"/deny/"+reason+"/"+fe] = false
			}
		}
	}
	for _, store := range []string{"profiles", "sessions", "tokens"} {
		for _, class := range []string{"unavailable", "permanent"} {
			want["extauthz_store_errors_total "+store+"/"+class] = false
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			var key string
			switch mf.GetName() {
			case "extauthz_decisions_total":
				key = mf.GetName() + " " + l["app"] + "/" + l["decision"] + "/" + l["reason"] + "/" + l["frontend"]
			case "extauthz_store_errors_total":
				key = mf.GetName() + " " + l["store"] + "/" + l["class"]
			default:
				continue
			}
			if _, ok := want[key]; ok {
				want[key] = true
				if v := m.GetCounter().GetValue(); v != 0 {
					t.Errorf("%s = %v at start", key, v)
				}
			}
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("%s missing at start", k)
		}
	}
}

// The first store failure is logged at WARN with its cause (then at most
// every 30 s while failures go on, see package outage), the recovery at
// INFO with the outage's length in seconds; per store.
func TestStoreFailureLoggedAndRecovery(t *testing.T) {
	var buf strings.Builder
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Options{
		Apps: []string{"default"},
		Log:  slog.New(slog.NewTextHandler(&buf, nil)),
		Now:  func() time.Time { return now },
	})
	ctx := context.Background()
	down := metrics.Profiles{Next: fakeProfiles{err: fmt.Errorf("dial tcp 127.0.0.1:5432: connection refused: %w", authz.ErrUnavailable)}, M: m, Store: metrics.StoreProfiles}
	for range 5 {
		_, _ = down.LookupProfile(ctx, "a@example.com")
		now = now.Add(time.Second)
	}
	// Another store failing is its own outage.
	_, _ = metrics.Sessions{Next: fakeSessions{err: errors.New("permission denied for table extauthz_sessions")}, M: m}.GetSession(ctx, cookie.Hash{})
	_, _ = metrics.Profiles{Next: fakeProfiles{err: authz.ErrNotFound}, M: m, Store: metrics.StoreProfiles}.LookupProfile(ctx, "b@example.com")
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(got) != 3 {
		t.Fatalf("got %d lines, want 3 (profiles WARN, sessions WARN, profiles INFO):\n%s", len(got), buf.String())
	}
	for i, want := range [][]string{
		{"level=WARN", "store=profiles", "op=lookup", "class=unavailable", "connection refused", "failures=1"},
		{"level=WARN", "store=sessions", "op=get", "class=permanent", "permission denied", "failures=1"},
		{"level=INFO", "store=profiles", "outage_seconds=5", "failures=5"},
	} {
		for _, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("line %d lacks %q: %s", i, w, got[i])
			}
		}
	}
}

// Pool figures are read from the pool at scrape time.
func TestWatchPool(t *testing.T) {
	reg, m := newMetrics(t)
	st := metrics.PoolStats{
		Acquired: 3, Idle: 2, Constructing: 1, Total: 6, Max: 8,
		Acquires: 100, CanceledAcquires: 4, EmptyAcquires: 7, NewConns: 9,
		AcquireDuration: 1500 * time.Millisecond, EmptyAcquireWait: 250 * time.Millisecond,
	}
	m.WatchPool(func() metrics.PoolStats { return st })
	st.Idle = 5 // read at scrape time
	golden(t, reg, "pool",
		"extauthz_db_pool_acquired_connections", "extauthz_db_pool_idle_connections",
		"extauthz_db_pool_constructing_connections", "extauthz_db_pool_total_connections",
		"extauthz_db_pool_max_connections", "extauthz_db_pool_acquires_total",
		"extauthz_db_pool_canceled_acquires_total", "extauthz_db_pool_empty_acquires_total",
		"extauthz_db_pool_new_connections_total", "extauthz_db_pool_acquire_seconds_total",
		"extauthz_db_pool_acquire_wait_seconds_total")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
