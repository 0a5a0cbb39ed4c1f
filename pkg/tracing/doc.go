// Package tracing is extauthz's OpenTelemetry front: a span per check,
// joined to the caller's trace, and a child span per store trip. It is an
// adapter like pkg/metrics: pkg/authz knows nothing of it, and nothing here
// runs unless the environment turns tracing on.
//
// The contract:
//
//   - FromEnv reads the standard OTEL_* variables. Tracing is off unless
//     OTEL_TRACES_EXPORTER is "otlp", or it is unset and
//     OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
//     set; OTEL_SDK_DISABLED=true turns it off whatever else is set, and
//     OTEL_TRACES_EXPORTER=none keeps it off. The protocol is
//     OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
//     else http/protobuf (grpc is the other one served). The sampler is
//     OTEL_TRACES_SAMPLER (default parentbased_always_on) with
//     OTEL_TRACES_SAMPLER_ARG, the service name OTEL_SERVICE_NAME (default
//     "extauthz"). A value it cannot honour is an error, never a silent
//     default. The exporter reads its own variables (endpoint, headers,
//     timeout, TLS, compression), OTEL_RESOURCE_ATTRIBUTES and OTEL_BSP_*
//     are honoured as the SDK defines them.
//
//   - Start returns nil when tracing is off, and every method of a nil
//     *Tracer hands back what it was given: the engine and the stores run
//     unwrapped, so a process without OTEL_* pays nothing per check (no
//     allocation, no branch beyond the one at wiring).
//
//   - Tracer.Engine decides like the engine under a span named
//     SpanCheck (kind server) whose parent is read, in this order, from
//     the gRPC metadata of the call (Envoy's ext_authz client span, when
//     Envoy traces) and from the checked request's headers: W3C
//     traceparent/tracestate, then B3 single ("b3"), then B3 multi
//     (x-b3-traceid, x-b3-spanid, x-b3-sampled, x-b3-flags). A traceparent
//     or b3 header sent twice is ignored (ambiguous). The span ends with
//     AttrApp, AttrReason, AttrRow (the decision-table row of the reason,
//     absent for reasons that are not one row), AttrStatus and AttrAllow,
//     and an error status for a 5xx decision. Tracer.Rejected records the
//     same span for a check refused before any decision (request_invalid).
//
//   - Tracer.Profiles, Sessions and Tokens wrap a store: each call made
//     under a recording span gets a child span named "<store>.<op>" (the
//     store and op labels of extauthz_store_*), with AttrStore, AttrOp
//     and AttrResult (ok, not_found, unavailable, rate_limited, error).
//     Calls without a recording span (background refreshes, unsampled
//     checks) make none. No span carries an email, a name, a token or a
//     path: only what the metrics already say.
//
//   - HeaderNames are the request headers the parent is read from; a front
//     end that copies only the headers the engine reads (envoy.Options.Keep)
//     must add them when tracing is on.
package tracing
