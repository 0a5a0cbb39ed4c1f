package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
)

// The gRPC series are kept by a stats handler, not an interceptor (which
// would turn the Check's wire path off), count calls by code where
// dashboards look for them, and exist at 0 from the start.
func TestGRPCMetricsByStatsHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := newGRPCMetrics(reg)
	gs := grpc.NewServer(g.options()...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	g.init(gs)

	call := func(err error) {
		ctx := g.TagRPC(context.Background(), &stats.RPCTagInfo{FullMethodName: "/grpc.health.v1.Health/Check"})
		begin := time.Now()
		g.HandleRPC(ctx, &stats.Begin{BeginTime: begin})
		g.HandleRPC(ctx, &stats.End{BeginTime: begin, EndTime: begin.Add(time.Millisecond), Error: err})
	}
	call(nil)
	call(nil)
	call(errors.New("plain error"))

	lv := []string{"unary", "grpc.health.v1.Health", "Check"}
	if n := testutil.ToFloat64(g.started.WithLabelValues(lv...)); n != 3 {
		t.Errorf("started %v, want 3", n)
	}
	if n := testutil.ToFloat64(g.handled.WithLabelValues(append(lv, "OK")...)); n != 2 {
		t.Errorf("handled OK %v, want 2", n)
	}
	if n := testutil.ToFloat64(g.handled.WithLabelValues(append(lv, "Unknown")...)); n != 1 {
		t.Errorf("handled Unknown %v, want 1", n)
	}
	if n := testutil.CollectAndCount(g.handled, "grpc_server_handled_total"); n < 17*2 {
		t.Errorf("%d handled series, want every code of every method at 0 from the start", n)
	}
}
