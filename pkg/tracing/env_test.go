package tracing_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/tracing"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name              string
		env               []string
		on                bool
		protocol, sampler string
		err               string
	}{
		{name: "nothing set"},
		{name: "endpoint", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
			on: true, protocol: "http/protobuf", sampler: "parentbased_always_on"},
		{name: "traces endpoint", env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"}, on: true},
		{name: "exporter otlp", env: []string{"OTEL_TRACES_EXPORTER", "otlp"}, on: true},
		{name: "exporter none beats endpoint", env: []string{"OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}},
		{name: "sdk disabled beats everything", env: []string{"OTEL_SDK_DISABLED", "TRUE", "OTEL_TRACES_EXPORTER", "otlp"}},
		{name: "sdk disabled false", env: []string{"OTEL_SDK_DISABLED", "false", "OTEL_TRACES_EXPORTER", "otlp"}, on: true},
		{name: "sdk disabled garbage", env: []string{"OTEL_SDK_DISABLED", "1"}, err: "OTEL_SDK_DISABLED"},
		{name: "exporter unknown", env: []string{"OTEL_TRACES_EXPORTER", "jaeger"}, err: `"jaeger" is not served`},
		{name: "exporter none with otlp", env: []string{"OTEL_TRACES_EXPORTER", "otlp,none"}, err: "none cannot be combined"},
		{name: "grpc", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, on: true, protocol: "grpc"},
		{name: "traces protocol wins", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"}, on: true, protocol: "http/protobuf"},
		{name: "json", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}, err: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "ratio", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG", "0.25"}, on: true, sampler: "parentbased_traceidratio"},
		{name: "ratio out of range", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "traceidratio",
			"OTEL_TRACES_SAMPLER_ARG", "2"}, err: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "sampler unknown, with a bad protocol too", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "xray",
			"OTEL_EXPORTER_OTLP_PROTOCOL", "udp"}, err: "OTEL_TRACES_SAMPLER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tracing.FromEnv(envOf(tc.env...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Enabled != tc.on {
				t.Fatalf("Enabled = %v, want %v", s.Enabled, tc.on)
			}
			if tc.protocol != "" && s.Protocol != tc.protocol {
				t.Errorf("Protocol = %q, want %q", s.Protocol, tc.protocol)
			}
			if tc.sampler != "" && s.SamplerName != tc.sampler {
				t.Errorf("sampler = %q, want %q", s.SamplerName, tc.sampler)
			}
			if s.Enabled && s.ServiceName != "extauthz" {
				t.Errorf("ServiceName = %q, want extauthz", s.ServiceName)
			}
		})
	}
}

// Every error at once: an operator fixes them in one go.
func TestFromEnvReportsEveryError(t *testing.T) {
	_, err := tracing.FromEnv(envOf("OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "xray", "OTEL_EXPORTER_OTLP_PROTOCOL", "udp"))
	if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER") || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("err = %v, want both the sampler and the protocol named", err)
	}
}

// collector is a fake OTLP/HTTP receiver on loopback: it counts the
// export requests and keeps their bodies.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) received() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodies
}

// decideOnce runs one check through tr.
func decideOnce(t *testing.T, tr *tracing.Tracer) {
	d := tr.Engine(newEngine(t, tr), "grpc").Decide(context.Background(), authz.Input{
		Headers: authz.Headers{"x-auth-request-email": {"alice@example.com"}, "traceparent": {traceparent}},
	})
	if d.Reason != authz.ReasonRekey {
		t.Fatalf("reason %s, want rekey", d.Reason)
	}
}

// Start is the whole switch: without OTEL_* (or with the SDK disabled)
// it installs no tracer provider and nothing reaches a collector; with an
// endpoint, a check's span is exported over OTLP/HTTP by the time Shutdown
// returns. The exporter reads its endpoint from the process environment,
// hence Setenv.
func TestStart(t *testing.T) {
	c := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.srv.URL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	global := otel.GetTracerProvider()
	for _, getenv := range []func(string) string{
		envOf(),
		envOf("OTEL_EXPORTER_OTLP_ENDPOINT", c.srv.URL, "OTEL_SDK_DISABLED", "true"),
		envOf("OTEL_EXPORTER_OTLP_ENDPOINT", c.srv.URL, "OTEL_TRACES_EXPORTER", "none"),
	} {
		tr, err := tracing.Start(context.Background(), getenv, "test", log)
		if err != nil || tr != nil {
			t.Fatalf("Start = %v, %v; want nil, nil", tr, err)
		}
		decideOnce(t, tr)
	}
	if otel.GetTracerProvider() != global {
		t.Fatalf("tracing off installed a tracer provider: %T", otel.GetTracerProvider())
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("tracing off: the global tracer provider is the SDK's")
	}
	if n := len(c.received()); n != 0 {
		t.Fatalf("tracing off: the collector received %d exports", n)
	}

	tr, err := tracing.Start(context.Background(), envOf("OTEL_EXPORTER_OTLP_ENDPOINT", c.srv.URL), "test", log)
	if err != nil || tr == nil {
		t.Fatalf("Start = %v, %v; want a tracer", tr, err)
	}
	defer otel.SetTracerProvider(global)
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Errorf("tracing on: global tracer provider %T, want the SDK's", otel.GetTracerProvider())
	}
	decideOnce(t, tr)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := bytes.Join(c.received(), nil)
	for _, want := range []string{tracing.SpanCheck, "profiles.lookup", "sessions.replace", "extauthz.reason", "rekey", "extauthz"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("exported spans lack %q (%d exports)", want, len(c.received()))
		}
	}
}
