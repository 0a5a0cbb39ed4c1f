package tracing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The environment variables FromEnv reads.
const (
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName    = "OTEL_SERVICE_NAME"
	EnvSampler        = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
)

// The OTLP protocols served.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME says otherwise.
const DefaultServiceName = "extauthz"

// Settings are what the environment asks of tracing.
type Settings struct {
	// Enabled is false unless the environment turns tracing on (see the
	// package documentation); every other field is then unset.
	Enabled     bool
	Protocol    string // ProtocolGRPC or ProtocolHTTP
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER's; SamplerName its name, for logs.
	Sampler     sdktrace.Sampler
	SamplerName string
}

// FromEnv reads the tracing settings from getenv, reporting every value it
// cannot honour at once.
func FromEnv(getenv func(string) string) (Settings, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	disabled, err := parseBool(EnvSDKDisabled, env(EnvSDKDisabled))
	if err != nil || disabled {
		return Settings{}, err
	}
	on, err := exporterOn(env(EnvTracesExporter), env(EnvEndpoint) != "" || env(EnvTracesEndpoint) != "")
	if err != nil || !on {
		return Settings{}, err
	}
	s := Settings{Enabled: true, ServiceName: env(EnvServiceName)}
	if s.ServiceName == "" {
		s.ServiceName = DefaultServiceName
	}
	var errs []error
	if s.Protocol, err = protocol(env(EnvTracesProtocol), env(EnvProtocol)); err != nil {
		errs = append(errs, err)
	}
	if s.Sampler, s.SamplerName, err = sampler(env(EnvSampler), env(EnvSamplerArg)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want true or false", name, v)
}

// exporterOn reads OTEL_TRACES_EXPORTER: "otlp" turns tracing on, "none"
// keeps it off, and unset leaves it to whether an OTLP endpoint is set.
func exporterOn(v string, endpointSet bool) (bool, error) {
	if v == "" {
		return endpointSet, nil
	}
	var otlp, none bool
	for _, e := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(e)) {
		case "otlp":
			otlp = true
		case "none":
			none = true
		case "":
		default:
			return false, fmt.Errorf("%s=%q: %q is not served (want otlp or none)", EnvTracesExporter, v, strings.TrimSpace(e))
		}
	}
	if otlp && none {
		return false, fmt.Errorf("%s=%q: none cannot be combined with otlp", EnvTracesExporter, v)
	}
	return otlp, nil
}

// protocol is the traces protocol, else the general one, else
// http/protobuf (the specification's default).
func protocol(traces, general string) (string, error) {
	name, v := EnvTracesProtocol, traces
	if v == "" {
		name, v = EnvProtocol, general
	}
	switch v {
	case "", ProtocolHTTP:
		return ProtocolHTTP, nil
	case ProtocolGRPC:
		return ProtocolGRPC, nil
	}
	return "", fmt.Errorf("%s=%q: want %s or %s", name, v, ProtocolHTTP, ProtocolGRPC)
}

// sampler builds OTEL_TRACES_SAMPLER's sampler. The ratio samplers take
// OTEL_TRACES_SAMPLER_ARG in [0, 1] (default 1); the others take no
// argument and ignore it, as the specification says.
func sampler(name, arg string) (sdktrace.Sampler, string, error) {
	name = strings.ToLower(name)
	if name == "" {
		name = "parentbased_always_on"
	}
	ratio := 1.0
	if arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, "", fmt.Errorf("%s=%q: want a ratio between 0 and 1", EnvSamplerArg, arg)
		}
		ratio = r
	}
	var s sdktrace.Sampler
	switch strings.TrimPrefix(name, "parentbased_") {
	case "always_on":
		s = sdktrace.AlwaysSample()
	case "always_off":
		s = sdktrace.NeverSample()
	case "traceidratio":
		s = sdktrace.TraceIDRatioBased(ratio)
	default:
		return nil, "", fmt.Errorf("%s=%q: want always_on, always_off, traceidratio or their parentbased_ forms", EnvSampler, name)
	}
	if strings.HasPrefix(name, "parentbased_") {
		s = sdktrace.ParentBased(s)
	}
	return s, name, nil
}
