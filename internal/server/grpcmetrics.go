package server

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// grpcMetrics are the standard gRPC server series every gRPC dashboard
// knows (grpc_server_started_total, grpc_server_handled_total by code,
// grpc_server_handling_seconds), for the Check, health and reflection
// services, on the service's registry.
type grpcMetrics struct{ m *grpcprom.ServerMetrics }

// newGRPCMetrics registers the series on reg. The handling-time buckets
// are those of extauthz_check_duration_seconds: a check answered from
// memory takes tens of microseconds, below the default buckets.
func newGRPCMetrics(reg prometheus.Registerer) *grpcMetrics {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}),
	))
	reg.MustRegister(m)
	return &grpcMetrics{m: m}
}

// options are the server interceptors that feed the series.
func (g *grpcMetrics) options() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(g.m.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(g.m.StreamServerInterceptor()),
	}
}

// init creates every method's series at 0; call it once the services are
// registered on gs.
func (g *grpcMetrics) init(gs *grpc.Server) { g.m.InitializeMetrics(gs) }
