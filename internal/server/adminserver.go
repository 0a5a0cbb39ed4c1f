package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/extauthz/extauthz/pkg/admin"
)

// adminServer is the admin gRPC API on its own listener (admin_addr),
// guarded by the bearer token admin_token. A nil *adminServer is the admin
// API turned off; its methods do nothing.
type adminServer struct {
	gs  *grpc.Server
	ln  net.Listener
	log *slog.Logger
}

// newAdminServer listens on admin_addr, or returns nil when it is empty.
func (s *Server) newAdminServer() (*adminServer, error) {
	if s.cfg.AdminAddr == "" {
		return nil, nil
	}
	unary, stream, err := admin.BearerToken(s.cfg.AdminToken)
	if err != nil {
		return nil, fmt.Errorf("admin_token: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin_addr: %w", err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	admin.Register(gs, admin.New(s.stores.profiles, s.stores.sessions, s.explainer.Explain))
	return &adminServer{gs: gs, ln: ln, log: s.log}, nil
}

// Addr is the listening address ("" when off).
func (a *adminServer) Addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// close releases the listener of a server that will not be served.
func (a *adminServer) close() {
	if a != nil {
		a.ln.Close()
	}
}

// Serve serves until Stop.
func (a *adminServer) Serve() error {
	if a == nil {
		return nil
	}
	if err := a.gs.Serve(a.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("admin grpc: %w", err)
	}
	return nil
}

// Stop drains admin calls, closing them after timeout.
func (a *adminServer) Stop(timeout time.Duration) {
	if a == nil {
		return
	}
	done := make(chan struct{})
	go func() { a.gs.GracefulStop(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		a.log.Warn("shutdown timeout: closing remaining admin calls")
		a.gs.Stop()
		<-done
	}
}
