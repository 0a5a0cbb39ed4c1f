package tracing

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every span.
const ScopeName = "github.com/extauthz/extauthz"

// Tracer is the tracing of one process. A nil *Tracer is tracing turned
// off: its methods hand back what they are given.
type Tracer struct {
	t        trace.Tracer
	shutdown func(context.Context) error
}

// New traces with tp (a test's, with an in-memory exporter).
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{t: tp.Tracer(ScopeName), shutdown: func(context.Context) error { return nil }}
}

// Start reads the environment (FromEnv) and, when it turns tracing on,
// starts the OTLP exporter and installs the tracer provider as the
// process's global one. It returns nil when tracing is off. Export
// failures are logged to log (at warn), never returned: a collector that
// is down must not fail a check.
func Start(ctx context.Context, getenv func(string) string, version string, log *slog.Logger) (*Tracer, error) {
	s, err := FromEnv(getenv)
	if err != nil || !s.Enabled {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if s.Protocol == ProtocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", s.ServiceName),
		attribute.String("service.version", version),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.Sampler),
	)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: export failed", "error", err)
	}))
	otel.SetTracerProvider(tp)
	log.Info("tracing on", "protocol", s.Protocol, "sampler", s.SamplerName, "service_name", s.ServiceName)
	t := New(tp)
	t.shutdown = tp.Shutdown
	return t, nil
}

// Shutdown exports the spans still queued and stops the exporter, within
// ctx. Nil-safe.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
