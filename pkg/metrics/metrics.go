// Package metrics defines extauthz's Prometheus metrics on an injected
// registry (never the global one) and the observers and store decorators
// that feed them. Every label value comes from a closed set: app names from
// the configuration (anything else is "unknown"), reasons from authz.Reasons,
// front ends, store kinds, operations and error classes from constants here.
package metrics

import (
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/outage"
)

// Front ends, for the frontend label.
const (
	FrontendGRPC = "grpc"
	FrontendHTTP = "http"
)

// Error classes, for the class label.
const (
	ClassUnavailable = "unavailable"
	ClassPermanent   = "permanent"
)

// Metrics is the set of collectors of one process.
type Metrics struct {
	apps map[string]bool
	reg  prometheus.Registerer

	decisions       *prometheus.CounterVec
	checkDuration   *prometheus.HistogramVec
	storeDuration   *prometheus.HistogramVec
	storeErrors     *prometheus.CounterVec
	rekeyed         *prometheus.CounterVec
	flushes         *prometheus.CounterVec
	CacheHits       *prometheus.CounterVec
	CacheMisses     *prometheus.CounterVec
	CacheRefreshes  *prometheus.CounterVec
	InvalidationLag prometheus.Histogram
	ListenerUp      prometheus.Gauge
	// BackchannelLogouts counts logout tokens posted to
	// /oidc/backchannel-logout, by result (BackchannelResults).
	BackchannelLogouts *prometheus.CounterVec

	log      *slog.Logger
	now      func() time.Time
	outageMu sync.Mutex
	outages  map[string]*outage.Reporter // by store label
}

// Options tune New.
type Options struct {
	// Apps are the configured app names (label values).
	Apps []string
	// Version is reported by extauthz_build_info.
	Version string
	// Runtime adds the Go runtime and process collectors.
	Runtime bool
	// Stores are the store labels whose error series exist from the start
	// (default: the built-in profiles, sessions and tokens).
	Stores []string
	// Log receives the store outage reports (WARN on the first failure of
	// a store and at most every 30 s while it lasts, INFO on recovery); nil
	// discards.
	Log *slog.Logger
	// Now is the clock of those reports; nil is time.Now.
	Now func() time.Time
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer, o Options) *Metrics {
	m := &Metrics{apps: make(map[string]bool, len(o.Apps)), reg: reg, log: o.Log, now: o.Now,
		outages: map[string]*outage.Reporter{}}
	for _, a := range o.Apps {
		m.apps[a] = true
	}
	m.newDecisionMetrics()
	m.newCacheMetrics()
	m.BackchannelLogouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_backchannel_logouts_total",
		Help: "Logout tokens posted to /oidc/backchannel-logout, by result: ok (recorded), invalid, replay (jti used before), unavailable (keys or store; 503), error.",
	}, []string{"result"})
	build := buildInfo(o.Version)

	reg.MustRegister(m.decisions, m.checkDuration, m.storeDuration, m.storeErrors, m.rekeyed,
		m.flushes, m.CacheHits, m.CacheMisses, m.CacheRefreshes, m.InvalidationLag, m.ListenerUp,
		m.BackchannelLogouts, build)
	if o.Runtime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.precreate(o)
	return m
}

// newDecisionMetrics creates the decision, timing and store metrics.
func (m *Metrics) newDecisionMetrics() {
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_decisions_total",
		Help: "Decisions made, by app, outcome (allow or deny), reason code and front end.",
	}, []string{"app", "decision", "reason", "frontend"})
	m.checkDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "extauthz_check_duration_seconds",
		Help:    "Time to decide one check, from request parsed to response rendered.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	}, []string{"frontend"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "extauthz_store_query_duration_seconds",
		Help:    "Time of store operations that reached the store (cache misses), by store and operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5},
	}, []string{"store", "op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_store_errors_total",
		Help: "Store operations that failed, by store and error class (unavailable or permanent).",
	}, []string{"store", "class"})
	m.rekeyed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_sessions_rekeyed_total",
		Help: "New sessions issued (first visit or identity change), by app.",
	}, []string{"app"})
	m.flushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_flushes_total",
		Help: "Decisions that expired cookies, by app and delivery (redirect: a 302 navigation; deny: a 401 API answer or a 403 of a blocked profile; inline: allowed).",
	}, []string{"app", "mode"})
}

// newCacheMetrics creates the cache and change-feed metrics.
func (m *Metrics) newCacheMetrics() {
	m.CacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_cache_hits_total",
		Help: "Lookups answered from the in-process cache, by cache.",
	}, []string{"cache"})
	m.CacheMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_cache_misses_total",
		Help: "Lookups that went to the store, by cache.",
	}, []string{"cache"})
	m.CacheRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extauthz_cache_refreshes_total",
		Help: "Entries in use reloaded in the background near the end of their TTL, by cache.",
	}, []string{"cache"})
	m.InvalidationLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "extauthz_invalidation_lag_seconds",
		Help:    "Time from a change's commit to its eviction on this replica (LISTEN/NOTIFY).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	m.ListenerUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "extauthz_change_feed_up",
		Help: "1 while the LISTEN connection for invalidations is established.",
	})
}

// buildInfo returns extauthz_build_info, set for version and the Go release
// the binary was built with.
func buildInfo(version string) *prometheus.GaugeVec {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "extauthz_build_info",
		Help: "Build information; always 1.",
	}, []string{"version", "goversion"})
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	build.WithLabelValues(version, goVersion).Set(1)
	return build
}

// precreate creates the series an operator alerts on (README "What to
// alert on"), so they exist at zero before the first failure.
func (m *Metrics) precreate(o Options) {
	for _, a := range o.Apps {
		m.rekeyed.WithLabelValues(a)
		for _, fe := range []string{FrontendGRPC, FrontendHTTP} {
			for _, r := range []authz.Reason{authz.ReasonLookupUnavailable, authz.ReasonLookupError} {
				m.decisions.WithLabelValues(a, "deny", string(r), fe)
			}
		}
	}
	for _, r := range BackchannelResults {
		m.BackchannelLogouts.WithLabelValues(r)
	}
	stores := o.Stores
	if stores == nil {
		stores = []string{StoreProfiles, StoreSessions, StoreTokens}
	}
	for _, st := range stores {
		for _, c := range []string{ClassUnavailable, ClassPermanent} {
			m.storeErrors.WithLabelValues(st, c)
		}
	}
}

// BackchannelResults are the result label values of
// extauthz_backchannel_logouts_total.
var BackchannelResults = []string{"ok", "invalid", "replay", "unavailable", "error"}

// outage returns the outage reporter of store.
func (m *Metrics) outage(store string) *outage.Reporter {
	m.outageMu.Lock()
	defer m.outageMu.Unlock()
	r := m.outages[store]
	if r == nil {
		r = outage.New(outage.Config{
			Log: m.log, Now: m.now,
			Down: "store failing: checks that need it and have no cached answer are refused",
			Up:   "store answering again",
		}, "store", store)
		m.outages[store] = r
	}
	return r
}

func (m *Metrics) app(a string) string {
	if m.apps[a] {
		return a
	}
	return "unknown"
}

// WatchCache reports n() as extauthz_cache_entries{cache=name} at every
// scrape (n takes the cache's shard locks in turn: fine at scrape rate).
func (m *Metrics) WatchCache(name string, n func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "extauthz_cache_entries",
		Help:        "Entries held by the in-process cache (expired ones not yet dropped included), by cache.",
		ConstLabels: prometheus.Labels{"cache": name},
	}, func() float64 { return float64(n()) }))
}

// ObserveDecision records one decision.
func (m *Metrics) ObserveDecision(frontend string, d authz.Decision, took time.Duration) {
	app := m.app(d.App)
	outcome := "deny"
	if d.Allow {
		outcome = "allow"
	}
	m.decisions.WithLabelValues(app, outcome, string(d.Reason), frontend).Inc()
	m.checkDuration.WithLabelValues(frontend).Observe(took.Seconds())
	if d.Rekeyed {
		m.rekeyed.WithLabelValues(app).Inc()
	}
	if d.Flushed {
		mode := "inline"
		switch {
		case !d.Allow && d.Status == 302:
			mode = "redirect"
		case !d.Allow:
			mode = "deny"
		}
		m.flushes.WithLabelValues(app, mode).Inc()
	}
}

// ObserveStore records one store operation that reached the store, and
// reports the store's outages in the log.
func (m *Metrics) ObserveStore(store, op string, took time.Duration, err error) {
	m.storeDuration.WithLabelValues(store, op).Observe(took.Seconds())
	class := ClassPermanent
	switch {
	case err == nil, errors.Is(err, authz.ErrNotFound):
		m.outage(store).OK()
		return
	case authz.IsTransient(err):
		class = ClassUnavailable
	}
	m.storeErrors.WithLabelValues(store, class).Inc()
	m.outage(store).Fail(err, "op", op, "class", class, "took_seconds", took.Seconds())
}
