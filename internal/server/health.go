package server

import (
	"context"
	"sync"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// drainingHealth is grpc.health.v1 that also ends Watch streams on drain.
// GracefulStop waits for every open stream, and a Watch (gRPC client-side
// health checking, a sidecar) never ends by itself: without this every
// shutdown would wait out shutdown_timeout. On drain each watcher is sent
// NOT_SERVING and its stream then ends with OK.
type drainingHealth struct {
	*health.Server
	once     sync.Once
	draining chan struct{}
}

func newDrainingHealth(hs *health.Server) *drainingHealth {
	return &drainingHealth{Server: hs, draining: make(chan struct{})}
}

// Shutdown marks every service NOT_SERVING and ends the Watch streams once
// they have been told.
func (h *drainingHealth) Shutdown() {
	h.once.Do(func() { close(h.draining) })
	h.Server.Shutdown()
}

// Watch implements healthpb.HealthServer.
func (h *drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ws := &watchStream{Health_WatchServer: stream, ctx: ctx, cancel: cancel, draining: h.draining}
	err := h.Server.Watch(req, ws)
	if ws.told {
		return nil
	}
	return err
}

// watchStream ends a Watch after it has sent NOT_SERVING during a drain.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx      context.Context
	cancel   context.CancelFunc
	draining <-chan struct{}
	told     bool // only touched by the Watch goroutine
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(r *healthpb.HealthCheckResponse) error {
	err := w.Health_WatchServer.Send(r)
	if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
		select {
		case <-w.draining:
			w.told = true
			w.cancel()
		default:
		}
	}
	return err
}
