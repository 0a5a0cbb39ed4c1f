package server

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/tracing"
)

// tracingShutdownTimeout bounds the export of the spans still queued at
// exit.
const tracingShutdownTimeout = 5 * time.Second

// startTracing starts tracing when the OTEL_* environment asks for it
// (pkg/tracing); nil otherwise, and then nothing on the check path
// changes.
func startTracing(ctx context.Context, o Options, log *slog.Logger) (*tracing.Tracer, error) {
	if o.Tracer != nil {
		return o.Tracer, nil
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return tracing.Start(ctx, getenv, o.Version, log)
}

// stopTracing exports what is queued; run by Close.
func (s *Server) stopTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := s.tracer.Shutdown(ctx); err != nil {
		s.log.Warn("tracing: spans lost at exit", "error", err)
	}
}

// decider is the engine a front end decides with: traced when tracing is
// on, the engine itself otherwise.
func (s *Server) decider(frontend string) authz.Decider {
	return s.tracer.Engine(s.engine, frontend)
}

// keep names the request headers the gRPC front end copies: the ones the
// engine reads, and the trace context when tracing is on.
func (s *Server) keep() map[string]bool {
	names := s.engine.HeaderNames()
	if s.tracer != nil {
		for _, h := range tracing.HeaderNames {
			names[h] = true
		}
	}
	return names
}
