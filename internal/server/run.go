package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/envoy"
	"github.com/extauthz/extauthz/pkg/metrics"
	"github.com/extauthz/extauthz/pkg/ops"
)

// listeners are the bound sockets Run serves. A nil *httpServer or
// *adminServer is a listener turned off.
type listeners struct {
	grpc  net.Listener
	http  *httpServer  // listeners.go
	check *httpServer  // httpcheck.go
	admin *adminServer // adminserver.go
}

// close releases sockets that will not be served.
func (l *listeners) close() {
	l.grpc.Close()
	l.http.close()
	l.check.close()
	l.admin.close()
}

// Addrs are the bound addresses ("" for a listener turned off).
type Addrs struct {
	GRPC, HTTP, Check, Admin string
}

// Listen binds every configured listener: grpc_addr, http_addr, and
// check_addr and admin_addr when set. Run calls it if it has not been
// called; a test calls it first to learn the ports of ":0" addresses.
func (s *Server) Listen() (Addrs, error) {
	if s.ls == nil {
		ls, err := s.listen()
		if err != nil {
			return Addrs{}, err
		}
		s.ls = ls
	}
	return Addrs{GRPC: s.ls.grpc.Addr().String(), HTTP: s.ls.http.Addr(), Check: s.ls.check.Addr(), Admin: s.ls.admin.Addr()}, nil
}

func (s *Server) listen() (*listeners, error) {
	var ls listeners
	var err error
	ls.grpc, err = net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("grpc_addr: %w", err)
	}
	mux := http.NewServeMux()
	s.ops.Mount(mux)
	if s.cfg.Pprof {
		ops.MountPprof(mux)
	}
	if ls.http, err = listenHTTP("http_addr", s.cfg.HTTPAddr, s.cfg.HTTPServer, mux, s.log); err == nil {
		if ls.check, err = s.listenHTTPCheck(); err == nil { // nil when check_addr is empty
			ls.admin, err = s.newAdminServer() // nil when admin_addr is empty
		}
	}
	if err != nil {
		ls.close()
		return nil, err
	}
	return &ls, nil
}

// Run serves until ctx ends, then shuts down in order: health NOT_SERVING
// and /readyz failing, shutdown_delay, gRPC and HTTP checks drained (forced
// after the shutdown timeout), admin and HTTP closed. The caller closes
// the stores (Close) after Run returns.
func (s *Server) Run(ctx context.Context) error {
	if s.stores.pool == nil {
		s.log.Warn("no database configured: using the in-memory store seeded from the config file, which is for trials only: nothing persists across restarts and sessions are capped",
			"seed_profiles", len(s.cfg.SeedProfiles))
	}
	addrs, err := s.Listen()
	if err != nil {
		return err
	}
	gs, hs, serving := s.grpcServer()

	// The bound addresses are logged whatever log.level says: with ":0" they
	// are the only way to learn the ports (the test harness reads them).
	atLeastInfo(s.cfg.Log, s.out).Info("serving",
		"grpc_addr", addrs.GRPC, "http_addr", addrs.HTTP, "check_addr", addrs.Check, "admin_addr", addrs.Admin,
		"apps", s.engine.Apps(), "version", s.version, "database", s.stores.pool != nil)

	// Background work (change feed, cache sweep, session collector) runs
	// until the servers have drained, not only until SIGTERM: a replica
	// still answering Checks during shutdown_delay must still see blocks.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	ls := s.ls
	g.Go(func() error {
		if err := gs.Serve(ls.grpc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(ls.http.Serve)
	g.Go(ls.check.Serve)
	g.Go(ls.admin.Serve)
	if s.stores.pool != nil {
		g.Go(func() error { s.warmPool(gctx, serving); return nil })
		g.Go(func() error { s.collectGarbage(gctx); return nil })
	}
	s.caches.limitMemory(os.Getenv, s.log)
	s.caches.run(gctx, g)
	g.Go(func() error { s.identity.run(gctx); return nil })
	g.Go(func() error {
		defer stopRun()
		return s.shutdown(ctx, gctx, gs, hs)
	})
	err = g.Wait()
	s.log.Info("stopped")
	return err
}

// grpcServer builds the Check server with its health and reflection
// services; serving reports the Check service SERVING.
func (s *Server) grpcServer() (gs *grpc.Server, hs *drainingHealth, serving func()) {
	wire := s.cfg.GRPCCodec != config.GRPCCodecGenerated
	grpcMetrics := newGRPCMetrics(s.reg) // grpcmetrics.go
	opts := append(grpcServerOptions(wire), grpcLimits(s.cfg.GRPCServer)...)
	gs = grpc.NewServer(append(opts, grpcMetrics.options()...)...)
	envoySrv := envoy.NewServer(s.decider(metrics.FrontendGRPC), envoy.Options{
		UnavailableAsError: s.cfg.UnavailableAsError,
		Keep:               s.keep(), // tracing.go
		Observe:            s.observe(metrics.FrontendGRPC),
	})
	if wire {
		envoy.RegisterWire(gs, envoySrv)
	} else {
		envoy.Register(gs, envoySrv)
	}
	hs = newDrainingHealth(health.NewServer()) // ends Watch streams on drain (health.go)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	grpcMetrics.init(gs)
	authService := authv3.Authorization_ServiceDesc.ServiceName
	// The process ("", what the kubelet's probes ask) serves at once. The
	// Check service (what Envoy's active health check asks) serves once the
	// database pool is warm (warm.go), like /readyz: a replica whose pool
	// cannot be opened is not restarted, it just gets no traffic.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	serving = func() { hs.SetServingStatus(authService, healthpb.HealthCheckResponse_SERVING) }
	if s.stores.pool == nil {
		serving()
	} else {
		hs.SetServingStatus(authService, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return gs, hs, serving
}

// shutdown waits for ctx (SIGTERM or SIGINT) or gctx (a server failed) to
// end, then takes the replica out of rotation and drains it.
func (s *Server) shutdown(ctx, gctx context.Context, gs *grpc.Server, hs *drainingHealth) error {
	cfg, ls := s.cfg, s.ls
	select {
	case <-ctx.Done(): // SIGTERM or SIGINT
	case <-gctx.Done(): // a server failed
	}
	s.log.Info("shutting down", "delay_seconds", cfg.ShutdownDelay.Seconds(), "timeout_seconds", cfg.ShutdownTimeout.Seconds())
	hs.Shutdown() // every service NOT_SERVING
	s.ops.Drain()
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
	go func() { checkStopped <- ls.check.Stop(cfg.ShutdownTimeout) }()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("shutdown timeout: closing remaining gRPC streams")
		gs.Stop()
	}
	ls.admin.Stop(time.Second)
	return errors.Join(<-checkStopped, ls.http.Stop(5*time.Second))
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
