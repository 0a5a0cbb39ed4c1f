package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/extauthz/extauthz/pkg/config"
)

// httpServer is one bounded HTTP listener: the ops endpoints (http_addr) or
// the HTTP check (check_addr). A nil *httpServer is a listener turned off;
// its methods do nothing.
type httpServer struct {
	name string // the config key, for errors and logs
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
}

// listenHTTP listens on addr with the http_server limits: timeouts against
// slow or idle clients, a header size bound and a cap on open connections
// (further connections wait in the kernel's backlog until one closes).
// An empty addr returns nil: the listener is off.
func listenHTTP(name, addr string, c config.HTTPServer, h http.Handler, log *slog.Logger) (*httpServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &httpServer{
		name: name,
		log:  log,
		ln:   netutil.LimitListener(ln, c.MaxConns),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: c.ReadHeaderTimeout,
			ReadTimeout:       c.ReadTimeout,
			IdleTimeout:       c.IdleTimeout,
			MaxHeaderBytes:    c.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}, nil
}

// Addr is the bound address ("" when off).
func (s *httpServer) Addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// close releases the listener of a server that will not be served.
func (s *httpServer) close() {
	if s != nil {
		s.ln.Close()
	}
}

// Serve serves until Stop.
func (s *httpServer) Serve() error {
	if s == nil {
		return nil
	}
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// Stop stops accepting and waits up to timeout for requests in flight,
// then closes every connection still open. Those are requests that
// outlived the timeout and connections that never sent one: net/http's
// Shutdown leaves a connection that sent nothing alone for 5 s (an HTTP
// client's spare dial leaves one behind), which must not fail the exit.
func (s *httpServer) Stop(timeout time.Duration) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.log.Info("shutdown: closing the HTTP connections still open (requests that outlived the timeout, or connections that sent none)",
		"listener", s.name, "timeout_seconds", timeout.Seconds())
	return s.srv.Close()
}

// grpcLimits bound the Check server: message size (a CheckRequest without
// a body is a few KiB; Envoy's with_request_body adds up to its
// max_request_bytes), streams per connection, and how often a client may
// ping (Envoy's connection_keepalive pings idle connections too).
// orInfinity maps 0 ("never") to grpc-go's infinity.
func orInfinity(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return d
}

func grpcLimits(c config.GRPCServer) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(uint32(c.MaxConcurrentStreams)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             c.KeepaliveMinTime,
			PermitWithoutStream: c.KeepalivePermitWithoutStream,
		}),
		// Envoy keeps its HTTP/2 connections for as long as they live: a
		// replica added later (a rollout, the autoscaler) would get none of
		// the traffic. A connection closed for its age makes Envoy connect
		// again, and the new connection may land on any replica.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      orInfinity(c.MaxConnectionAge),
			MaxConnectionAgeGrace: orInfinity(c.MaxConnectionAgeGrace),
		}),
	}
}
