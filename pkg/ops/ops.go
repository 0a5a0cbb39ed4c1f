// Package ops serves the operator endpoints of extauthz: /healthz (the
// process is alive), /readyz (it can decide correctly: database reachable,
// migrations applied, change feed connected) and /metrics (Prometheus).
//
// Liveness never depends on the database: a database outage makes the
// service answer 503 for what its caches cannot answer, and restarting it
// would only empty those caches.
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition.
type Check struct {
	Name string
	// Fn returns nil when the condition holds. It gets a context bounded by
	// the readiness timeout.
	Fn func(ctx context.Context) error
	// Optional checks are reported but do not make the service unready (the
	// change feed: without it the caches fall back to their TTL).
	Optional bool
}

// Server holds the state behind the endpoints.
type Server struct {
	checks   []Check
	gatherer prometheus.Gatherer
	timeout  time.Duration
	draining atomic.Bool
}

// New returns a Server; gatherer may be nil (no /metrics).
func New(gatherer prometheus.Gatherer, checks ...Check) *Server {
	return &Server{checks: checks, gatherer: gatherer, timeout: time.Second}
}

// Drain makes /readyz fail from now on, so load balancers stop sending
// traffic while in-flight checks finish.
func (s *Server) Drain() { s.draining.Store(true) }

// Mount adds the endpoints to mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{EnableOpenMetrics: false}))
	}
}

// MountPprof adds Go's profiler under /debug/pprof/. It is opt-in (the
// pprof setting): a profile shows internals and costs CPU while taken.
func MountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Status is the /readyz body.
type Status struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// Ready runs the checks.
func (s *Server) Ready(ctx context.Context) Status {
	st := Status{Ready: true, Checks: make(map[string]string, len(s.checks)+1)}
	if s.draining.Load() {
		st.Ready = false
		st.Checks["shutdown"] = "draining"
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for _, c := range s.checks {
		if err := c.Fn(ctx); err != nil {
			st.Checks[c.Name] = err.Error()
			if !c.Optional {
				st.Ready = false
			}
			continue
		}
		st.Checks[c.Name] = "ok"
	}
	return st
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := s.Ready(r.Context())
	w.Header().Set("content-type", "application/json")
	w.Header().Set("cache-control", "no-store")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}
