package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/decisionlog"
	"github.com/extauthz/extauthz/pkg/envoy"
	"github.com/extauthz/extauthz/pkg/metrics"
	"github.com/extauthz/extauthz/pkg/ops"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/ratelimit"
	"github.com/extauthz/extauthz/pkg/store/migrations"
)

// loadConfig parses a command's flags, environment and config file.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet("extauthz "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Parse(fs, args, getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// newLogger builds the process logger from the log settings.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// atLeastInfo is the process logger with its level lowered to INFO if it
// was above, for the few lines an operator must always see.
func atLeastInfo(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if level.UnmarshalText([]byte(c.Level)) == nil && level > slog.LevelInfo {
		c.Level = "info"
	}
	return newLogger(c, w)
}

// service is everything serve runs, built from a configuration.
type service struct {
	cfg     config.Config
	log     *slog.Logger
	stores  *stores
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	engine  *authz.Engine
	dlog    *decisionlog.Logger
	ops     *ops.Server
	closers []func()
	caches  *caches    // cache.go
	warmth  poolWarmth // warm.go
	// registrations bounds auto_register per replica (nil: no bound).
	registrations *ratelimit.Bucket
	registering   chan struct{} // registrations in flight (nil: no bound)
}

// newService wires stores, caches, metrics and the decision engine.
func newService(ctx context.Context, cfg config.Config, log *slog.Logger) (*service, error) {
	st, err := openStores(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &service{cfg: cfg, log: log, stores: st, reg: prometheus.NewRegistry()}
	if cfg.AutoRegisterRate > 0 {
		// One bucket per replica, shared by every app: they draw on the same
		// databases and the same connections.
		s.registrations = ratelimit.NewBucket(cfg.AutoRegisterRate, cfg.AutoRegisterBurst, nil)
	}
	s.registering = ratelimit.NewSlots(cfg.AutoRegisterConcurrency)
	policies := cfg.Policies()
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.App
	}
	s.metrics = metrics.New(s.reg, metrics.Options{Apps: names, Version: version, Runtime: true,
		Stores: storeLabels(cfg, names), Log: log})
	if st.pool != nil {
		s.metrics.WatchPool(poolStats(st.pool))
	}
	s.caches = newCaches(cfg, st, s.metrics, log)

	apps := make([]authz.App, 0, len(policies))
	for _, p := range policies {
		src, err := s.profileSource(ctx, p.App)
		if err != nil {
			s.Close()
			return nil, err
		}
		apps = append(apps, authz.App{Policy: p, Profiles: src})
	}
	s.engine, err = authz.New(authz.Config{
		Apps:          apps,
		Sessions:      s.caches.sessions(metrics.Sessions{Next: st.sessions, M: s.metrics}),
		Tokens:        s.caches.tokens(metrics.Tokens{Next: st.tokens, M: s.metrics}),
		LookupTimeout: cfg.LookupTimeout,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	key := emailHashKey(cfg.Log, log) // hashkey.go
	s.dlog = decisionlog.New(log, decisionlog.Options{
		// Allows at debug, denials at info: every request pays for a line
		// only when the operator asks (log.level: debug, log.decision_sample).
		Level:   slog.LevelDebug,
		Sample:  cfg.Log.DecisionSample,
		Emails:  cfg.Log.LogEmails,
		HashKey: key,
		EmailHeader: func(app string) string {
			p, _ := s.engine.Policy(app)
			return p.EmailHeader
		},
	})

	var checks []ops.Check
	if st.pool != nil {
		pool := st.pool
		checks = append(checks,
			ops.Check{Name: "database", Fn: func(ctx context.Context) error { return pool.Ping(ctx) }},
			ops.Check{Name: "migrations", Fn: func(ctx context.Context) error { return migrations.Check(ctx, pool) }},
			ops.Check{Name: "pool", Fn: s.warmth.check},
		)
	}
	checks = append(checks, s.caches.checks()...)
	s.ops = ops.New(s.reg, checks...).WithLogger(log)
	return s, nil
}

// profileSource returns the measured profile source of app: the built-in
// store, or the app's own database through its operator-supplied query.
func (s *service) profileSource(ctx context.Context, app string) (authz.ProfileSource, error) {
	src, err := s.measuredSource(ctx, app)
	if err != nil || (s.registrations == nil && s.registering == nil) {
		return src, err
	}
	// Outermost: a registration over the replica's rate or concurrency
	// asks nothing of the caches or the store.
	return ratelimit.Registrations{Next: src, Bucket: s.registrations, InFlight: s.registering}, nil
}

// measuredSource is app's profile source with its metrics (and, for the
// built-in store, its cache).
func (s *service) measuredSource(_ context.Context, app string) (authz.ProfileSource, error) {
	src := s.cfg.AppSource(app)
	if src.Kind != config.SourceSQL {
		return s.caches.profiles(metrics.Profiles{Next: s.stores.profiles, M: s.metrics, Store: metrics.StoreProfiles}), nil
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
	return metrics.Profiles{Next: sql, M: s.metrics, Store: metrics.StoreAppSQL}, nil
}

// Close releases the stores and every app's own pool.
func (s *service) Close() {
	for _, c := range s.closers {
		c()
	}
	s.stores.Close()
}

// observe is called once per decision by every front end.
func (s *service) observe(frontend string) func(ctx context.Context, in authz.Input, d authz.Decision, took time.Duration) {
	return func(ctx context.Context, in authz.Input, d authz.Decision, took time.Duration) {
		s.metrics.ObserveDecision(frontend, d, took)
		s.dlog.Log(ctx, frontend, in, d, took)
	}
}

// serve runs the service until ctx ends, then shuts down in order: health
// NOT_SERVING and /readyz failing, gRPC drained (forced after the shutdown
// timeout), HTTP closed, database pool closed.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, getenv, stderr, nil)
	if cfg.CheckConfig {
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "configuration ok")
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	if svc.stores.pool == nil {
		log.Warn("no database configured: using the in-memory store seeded from the config file, which is for trials only: nothing persists across restarts and sessions are capped",
			"seed_profiles", len(cfg.SeedProfiles))
	}

	grpcLn, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc_addr: %w", err)
	}
	mux := http.NewServeMux()
	svc.ops.Mount(mux)
	if cfg.Pprof {
		ops.MountPprof(mux)
	}
	httpSrv, err := listenHTTP("http_addr", cfg.HTTPAddr, cfg.HTTPServer, mux, log) // listeners.go
	if err != nil {
		grpcLn.Close()
		return err
	}
	checkSrv, err := svc.listenHTTPCheck() // nil when check_addr is empty (httpcheck.go)
	if err != nil {
		grpcLn.Close()
		httpSrv.ln.Close()
		return err
	}
	adminSrv, err := svc.newAdminServer(ctx) // nil when admin_addr is empty (adminserver.go)
	if err != nil {
		grpcLn.Close()
		httpSrv.ln.Close()
		if checkSrv != nil {
			checkSrv.ln.Close()
		}
		return err
	}

	wire := cfg.GRPCCodec != config.GRPCCodecGenerated
	grpcMetrics := newGRPCMetrics(svc.reg) // grpcmetrics.go
	opts := append(grpcServerOptions(wire), grpcLimits(cfg.GRPCServer)...)
	gs := grpc.NewServer(append(opts, grpcMetrics.options()...)...)
	envoySrv := envoy.NewServer(svc.engine, envoy.Options{
		UnavailableAsError: cfg.UnavailableAsError,
		Keep:               svc.engine.HeaderNames(),
		Observe:            svc.observe("grpc"),
	})
	if wire {
		envoy.RegisterWire(gs, envoySrv)
	} else {
		envoy.Register(gs, envoySrv)
	}
	hs := newDrainingHealth(health.NewServer()) // ends Watch streams on drain (health.go)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	grpcMetrics.init(gs)
	authService := authv3.Authorization_ServiceDesc.ServiceName
	// The process ("", what the kubelet's probes ask) serves at once. The
	// Check service (what Envoy's active health check asks) serves once the
	// database pool is warm (warm.go), like /readyz: a replica whose pool
	// cannot be opened is not restarted, it just gets no traffic.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	serving := func() { hs.SetServingStatus(authService, healthpb.HealthCheckResponse_SERVING) }
	if svc.stores.pool == nil {
		serving()
	} else {
		hs.SetServingStatus(authService, healthpb.HealthCheckResponse_NOT_SERVING)
	}

	// The bound addresses are logged whatever log.level says: with ":0" they
	// are the only way to learn the ports (the test harness reads them).
	atLeastInfo(cfg.Log, stderr).Info("serving",
		"grpc_addr", grpcLn.Addr().String(), "http_addr", httpSrv.Addr(), "check_addr", checkSrv.Addr(), "admin_addr", adminSrv.Addr(),
		"apps", svc.engine.Apps(), "version", version, "database", svc.stores.pool != nil)

	// Background work (change feed, cache sweep, session collector) runs
	// until the servers have drained, not only until SIGTERM: a replica
	// still answering Checks during shutdown_delay must still see blocks.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error {
		if err := gs.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(httpSrv.Serve)
	g.Go(checkSrv.Serve)
	g.Go(adminSrv.Serve)
	if svc.stores.pool != nil {
		g.Go(func() error { svc.warmPool(gctx, serving); return nil })
		g.Go(func() error { svc.collectGarbage(gctx); return nil })
	}
	svc.caches.run(gctx, g)
	g.Go(func() error {
		defer stopRun()
		select {
		case <-ctx.Done(): // SIGTERM or SIGINT
		case <-gctx.Done(): // a server failed
		}
		log.Info("shutting down", "delay_seconds", cfg.ShutdownDelay.Seconds(), "timeout_seconds", cfg.ShutdownTimeout.Seconds())
		hs.Shutdown() // every service NOT_SERVING
		svc.ops.Drain()
		if gctx.Err() == nil {
			// Out of rotation first: Envoy's health check and the
			// endpoints controller see NOT_SERVING and a failing /readyz
			// while this replica still answers every Check it is sent.
			delay := time.NewTimer(cfg.ShutdownDelay)
			select {
			case <-delay.C:
			case <-gctx.Done():
				delay.Stop()
			}
		}
		checkStopped := make(chan error, 1) // HTTP checks drain beside gRPC
		go func() { checkStopped <- checkSrv.Stop(cfg.ShutdownTimeout) }()
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		timer := time.NewTimer(cfg.ShutdownTimeout)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			log.Warn("shutdown timeout: closing remaining gRPC streams")
			gs.Stop()
		}
		adminSrv.Stop(time.Second)
		return errors.Join(<-checkStopped, httpSrv.Stop(5*time.Second))
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// grpcServerOptions tune the Check server for many small unary calls: the
// wire codec lets Check read Envoy's request without building the generated
// messages (envoy.RegisterWire), and a pool of stream workers reuses
// goroutines whose stacks have already grown, instead of starting (and
// growing) one per request. gRPC falls back to a new goroutine when every
// worker is busy, so the pool is sized for the checks in flight, not for
// the cores: with as many workers as cores, most checks of a busy replica
// paid for growing a fresh stack (a fifth of its CPU in a profile).
// grpc_codec: generated turns the wire codec off (it rests on an API grpc-go
// still marks experimental) without a rebuild.
func grpcServerOptions(wire bool) []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.NumStreamWorkers(uint32(streamWorkers(runtime.GOMAXPROCS(0))))}
	if wire {
		opts = append(opts, envoy.WireCodec())
	}
	return opts
}

// streamWorkers is the worker pool size for procs cores.
func streamWorkers(procs int) int { return max(64, 16*procs) }

// collectGarbage deletes expired sessions in batches, every minute until
// ctx ends.
func (s *service) collectGarbage(ctx context.Context) {
	every(ctx, time.Minute, func(ctx context.Context) {
		for {
			n, err := s.stores.sessions.DeleteExpired(ctx, time.Now(), 1000)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("session garbage collection failed", "err", err)
				}
				return
			}
			if n > 0 {
				s.log.Debug("expired sessions deleted", "count", n)
			}
			if n < 1000 {
				return
			}
		}
	})
}

// every runs fn each period until ctx ends (the first run one period in).
func every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
