package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/decisionlog"
	"github.com/extauthz/extauthz/pkg/explain"
	"github.com/extauthz/extauthz/pkg/metrics"
	"github.com/extauthz/extauthz/pkg/ops"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/ratelimit"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	"github.com/extauthz/extauthz/pkg/tracing"
)

// Options are what New needs besides the configuration.
type Options struct {
	// Output receives the process log (in cfg.Log's format and level) and
	// the few lines an operator must always see ("serving"); nil discards.
	Output io.Writer
	// Version is reported in the "serving" line and extauthz_build_info.
	Version string
	// Getenv reads the OTEL_* variables that turn tracing on
	// (pkg/tracing); nil is os.Getenv.
	Getenv func(string) string
	// Tracer, when set, traces instead of what the environment asks (a
	// test's, recording in memory).
	Tracer *tracing.Tracer
}

// Server is everything serve runs, built from a configuration: stores,
// caches, metrics, the decision engine and the explainer over the same apps.
// New builds it without binding any port; Listen binds, Run serves.
type Server struct {
	cfg       config.Config
	out       io.Writer
	version   string
	log       *slog.Logger
	stores    *Stores
	reg       *prometheus.Registry
	metrics   *metrics.Metrics
	apps      []authz.App // built once: the engine and the explainer share them
	engine    *authz.Engine
	explainer *explain.Explainer
	dlog      *decisionlog.Logger
	ops       *ops.Server
	closers   []func()
	caches    *caches    // cache.go
	identity  *identity  // identity.go
	warmth    poolWarmth // warm.go
	ls        *listeners // run.go; nil until Listen
	// registrations and registering bound auto_register per replica, shared
	// by every app (nil: no bound).
	registrations   *ratelimit.Bucket
	registering     chan struct{}
	registeringSame singleflight.Group
	tracer          *tracing.Tracer // nil: tracing off (tracing.go)
}

// New wires stores, caches, metrics, the decision engine and the explainer.
// Close releases what it opened.
func New(ctx context.Context, cfg config.Config, o Options) (*Server, error) {
	if o.Output == nil {
		o.Output = io.Discard
	}
	log := NewLogger(cfg.Log, o.Output)
	tracer, err := startTracing(ctx, o, log)
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, cfg, log)
	if err != nil {
		_ = tracer.Shutdown(ctx)
		return nil, err
	}
	s := &Server{cfg: cfg, out: o.Output, version: o.Version, log: log, stores: st, reg: prometheus.NewRegistry(), tracer: tracer}
	if tracer != nil {
		s.closers = append(s.closers, s.stopTracing)
	}
	if cfg.AutoRegisterRate > 0 {
		s.registrations = ratelimit.NewBucket(cfg.AutoRegisterRate, cfg.AutoRegisterBurst, nil)
	}
	s.registering = ratelimit.NewSlots(cfg.AutoRegisterConcurrency)
	policies := cfg.Policies()
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.App
	}
	s.metrics = metrics.New(s.reg, metrics.Options{Apps: names, Version: o.Version, Runtime: true,
		Stores: storeLabels(cfg, names), Log: log})
	if st.pool != nil {
		s.metrics.WatchPool(poolStats(st.pool))
	}
	s.identity = newIdentity(policies, st.sessions, log)
	s.caches = newCaches(cfg, st, s.metrics, log, s.identity.feeds()...)
	if err := s.decide(policies); err != nil {
		s.Close()
		return nil, err
	}
	s.dlog = newDecisionLog(cfg.Log, log, s.engine)
	s.ops = ops.New(s.reg, s.checks()...).WithLogger(log)
	return s, nil
}

// decide builds every app once, then the engine and the explainer over them.
func (s *Server) decide(policies []authz.Policy) error {
	s.apps = make([]authz.App, 0, len(policies))
	for _, p := range policies {
		src, err := s.profileSource(p.App)
		if err != nil {
			return err
		}
		s.apps = append(s.apps, authz.App{Policy: p, Profiles: src, Identity: s.identity.verifier(p.App)})
	}
	var err error
	s.engine, err = authz.New(authz.Config{
		Apps:          s.apps,
		Sessions:      s.caches.sessions(s.tracer.Sessions(metrics.Sessions{Next: s.stores.sessions, M: s.metrics})),
		Tokens:        s.caches.tokens(s.tracer.Tokens(metrics.Tokens{Next: s.stores.tokens, M: s.metrics})),
		Revoker:       s.stores.sessions,
		LookupTimeout: s.cfg.LookupTimeout,
	})
	if err != nil {
		return err
	}
	s.explainer, err = newExplainer(s.apps, s.stores)
	return err
}

// newExplainer explains decisions over the service's own stores and
// policies, without writing to them (pkg/explain). `extauthz check` and the
// admin API's Explain both use it.
func newExplainer(apps []authz.App, st *Stores) (*explain.Explainer, error) {
	return explain.New(explain.Config{
		Apps:          apps,
		Sessions:      st.sessions,
		Tokens:        st.tokens,
		LookupTimeout: 5 * time.Second,
	})
}

// newDecisionLog is the decision logger of engine's apps.
func newDecisionLog(c config.Log, log *slog.Logger, engine *authz.Engine) *decisionlog.Logger {
	key := emailHashKey(c, log) // hashkey.go
	return decisionlog.New(log, decisionlog.Options{
		// Allows at debug, denials at info: every request pays for a line
		// only when the operator asks (log.level: debug, log.decision_sample).
		Level:   slog.LevelDebug,
		Sample:  c.DecisionSample,
		Emails:  c.LogEmails,
		HashKey: key,
		EmailHeader: func(app string) string {
			p, _ := engine.Policy(app)
			return p.EmailHeader
		},
	})
}

// checks are the readiness checks: the database, its schema and the pool's
// warm-up when there is one, and the caches' change feed.
func (s *Server) checks() []ops.Check {
	var checks []ops.Check
	if s.stores.pool != nil {
		pool := s.stores.pool
		checks = append(checks,
			ops.Check{Name: "database", Fn: func(ctx context.Context) error { return pool.Ping(ctx) }},
			ops.Check{Name: "migrations", Fn: func(ctx context.Context) error { return migrations.Check(ctx, pool) }},
			ops.Check{Name: "pool", Fn: s.warmth.check},
		)
	}
	return append(checks, s.caches.checks()...)
}

// profileSource returns app's profile source: measured, and bounded in its
// registrations per replica (auto_register_rate, auto_register_concurrency).
// The bound is outermost: a registration over it asks nothing of the caches
// or the store.
func (s *Server) profileSource(app string) (authz.ProfileSource, error) {
	src, err := s.measuredSource(app)
	if err != nil || (s.registrations == nil && s.registering == nil) {
		return src, err
	}
	return ratelimit.Registrations{Next: src, Bucket: s.registrations, InFlight: s.registering, Same: &s.registeringSame}, nil
}

// measuredSource returns the measured profile source of app: the built-in
// store, or the app's own database through its operator-supplied query.
func (s *Server) measuredSource(app string) (authz.ProfileSource, error) {
	src := s.cfg.AppSource(app)
	if src.Kind != config.SourceSQL {
		m := metrics.Profiles{Next: s.stores.profiles, M: s.metrics, Store: metrics.StoreProfiles}
		return s.caches.profiles(s.tracer.Profiles(m, metrics.StoreProfiles)), nil
	}
	timeout := src.Timeout
	if timeout <= 0 {
		timeout = s.cfg.LookupTimeout
	}
	sql, err := profile.NewSQL(profile.SQLConfig{
		DatabaseURL: src.DatabaseURL, Query: src.Query, RegisterQuery: src.RegisterQuery,
		MaxConns: src.MaxConns, Timeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("apps.%s.profile_source: %w", app, err)
	}
	s.closers = append(s.closers, sql.Close)
	return s.tracer.Profiles(metrics.Profiles{Next: sql, M: s.metrics, Store: metrics.StoreAppSQL}, metrics.StoreAppSQL), nil
}

// Explainer explains decisions over the same apps and stores as the
// engine, without writing to them.
func (s *Server) Explainer() *explain.Explainer { return s.explainer }

// Close releases the stores and every app's own pool.
func (s *Server) Close() {
	for _, c := range s.closers {
		c()
	}
	s.stores.Close()
}

// observe is called once per decision by every front end. With tracing
// on, a check refused before any decision (request_invalid) gets its span
// here: the engine's span (decider) never saw it.
func (s *Server) observe(frontend string) authz.Observer {
	if s.tracer != nil {
		return func(ctx context.Context, in authz.Input, d authz.Decision, took time.Duration) {
			if d.Reason == authz.ReasonRequestInvalid {
				s.tracer.Rejected(ctx, frontend, d, took)
			}
			s.metrics.ObserveDecision(frontend, d, took)
			s.dlog.Log(ctx, frontend, in, d, took)
		}
	}
	return func(ctx context.Context, in authz.Input, d authz.Decision, took time.Duration) {
		s.metrics.ObserveDecision(frontend, d, took)
		s.dlog.Log(ctx, frontend, in, d, took)
	}
}
