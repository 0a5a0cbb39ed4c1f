package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// grpcMetrics are the standard gRPC server series every gRPC dashboard
// knows — grpc_server_started_total, grpc_server_handled_total by code and
// grpc_server_handling_seconds, with the usual grpc_type, grpc_service,
// grpc_method and grpc_code labels — for the Check, health and reflection
// services, on the service's registry.
//
// They are kept by a stats handler of its own rather than a middleware
// library's interceptor: every series of every method is resolved once,
// when the services are registered, so a call looks one method up in a map
// that no longer changes. The library's interceptor turned the Check's
// wire path off (any interceptor does) and cost a steady-state Check about
// 100 allocations and a third more server CPU.
type grpcMetrics struct {
	started  *prometheus.CounterVec
	handled  *prometheus.CounterVec
	handling *prometheus.HistogramVec
	methods  map[string]*methodMetrics // by full method; written by init only
}

// methodMetrics are one method's resolved series.
type methodMetrics struct {
	started  prometheus.Counter
	handled  [codes.Unauthenticated + 1]prometheus.Counter
	handling prometheus.Observer
}

// newGRPCMetrics registers the series on reg. The handling-time buckets
// are those of extauthz_check_duration_seconds: a check answered from
// memory takes tens of microseconds, below the usual default buckets.
func newGRPCMetrics(reg prometheus.Registerer) *grpcMetrics {
	method := []string{"grpc_type", "grpc_service", "grpc_method"}
	g := &grpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total", Help: "Total number of RPCs started on the server.",
		}, method),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(method, "grpc_code")),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, method),
		methods: map[string]*methodMetrics{},
	}
	reg.MustRegister(g.started, g.handled, g.handling)
	return g
}

// options install the series' stats handler. A stats handler and not an
// interceptor: an interceptor on the server makes the Check's wire path
// fall back to the generated messages (pkg/envoy), which doubled a
// steady-state Check's CPU.
func (g *grpcMetrics) options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StatsHandler(g)}
}

// init resolves every registered method's series, creating them at 0. Call
// it once the services are registered on gs and before it serves.
func (g *grpcMetrics) init(gs *grpc.Server) {
	for svc, info := range gs.GetServiceInfo() {
		for _, m := range info.Methods {
			typ := "unary"
			switch {
			case m.IsClientStream && m.IsServerStream:
				typ = "bidi_stream"
			case m.IsClientStream:
				typ = "client_stream"
			case m.IsServerStream:
				typ = "server_stream"
			}
			mm := &methodMetrics{
				started:  g.started.WithLabelValues(typ, svc, m.Name),
				handling: g.handling.WithLabelValues(typ, svc, m.Name),
			}
			for c := range mm.handled {
				mm.handled[c] = g.handled.WithLabelValues(typ, svc, m.Name, codes.Code(c).String())
			}
			g.methods["/"+svc+"/"+m.Name] = mm
		}
	}
}

type methodKey struct{}

// TagRPC implements stats.Handler: the call's resolved series ride in its
// context.
func (g *grpcMetrics) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if mm := g.methods[info.FullMethodName]; mm != nil {
		return context.WithValue(ctx, methodKey{}, mm)
	}
	return ctx
}

// HandleRPC implements stats.Handler.
func (g *grpcMetrics) HandleRPC(ctx context.Context, s stats.RPCStats) {
	mm, _ := ctx.Value(methodKey{}).(*methodMetrics)
	if mm == nil || s.IsClient() {
		return
	}
	switch e := s.(type) {
	case *stats.Begin:
		mm.started.Inc()
	case *stats.End:
		mm.done(e.Error, e.EndTime.Sub(e.BeginTime))
	}
}

// TagConn implements stats.Handler.
func (g *grpcMetrics) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn implements stats.Handler.
func (g *grpcMetrics) HandleConn(context.Context, stats.ConnStats) {}

// done counts a finished call by its code and observes its duration.
func (mm *methodMetrics) done(err error, took time.Duration) {
	c := status.Code(err)
	if int(c) >= len(mm.handled) {
		c = codes.Unknown
	}
	mm.handled[c].Inc()
	mm.handling.Observe(took.Seconds())
}
