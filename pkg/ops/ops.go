// Package ops serves the operator endpoints of extauthz: /healthz (the
// process is alive), /readyz (it can decide correctly: database reachable,
// migrations applied, change feed connected) and /metrics (Prometheus).
//
// /readyz names each failed check with the class of its failure
// ("unreachable", "timeout", "SQLSTATE 28P01", "failed"), never the error's
// text: a database error names the user, the database and the host, and
// the endpoint is often reachable by more than the operator. The text goes
// to the log (WithLogger) when a check starts failing or fails differently.
//
// Liveness never depends on the database: a database outage makes the
// service answer 503 for what its caches cannot answer, and restarting it
// would only empty those caches.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"syscall"
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
	log      *slog.Logger

	mu   sync.Mutex
	last map[string]string // the last error text logged per check
}

// New returns a Server; gatherer may be nil (no /metrics).
func New(gatherer prometheus.Gatherer, checks ...Check) *Server {
	return &Server{checks: checks, gatherer: gatherer, timeout: time.Second, last: map[string]string{}}
}

// WithLogger makes s log the detail of failing checks to l (at warn, once
// per change) and returns s.
func (s *Server) WithLogger(l *slog.Logger) *Server {
	s.log = l
	return s
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
		err := c.Fn(ctx)
		s.logChange(c.Name, err)
		if err != nil {
			st.Checks[c.Name] = Cause(err)
			if !c.Optional {
				st.Ready = false
			}
			continue
		}
		st.Checks[c.Name] = "ok"
	}
	return st
}

// logChange logs a check's error text when it differs from the last one
// logged, and its recovery.
func (s *Server) logChange(name string, err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	s.mu.Lock()
	prev, had := s.last[name]
	s.last[name] = text
	s.mu.Unlock()
	if s.log == nil || (had && prev == text) || (!had && err == nil) {
		return
	}
	if err == nil {
		s.log.Info("readiness check ok again", "check", name)
		return
	}
	s.log.Warn("readiness check failing", "check", name, "cause", Cause(err), "err", text)
}

// Cause is what /readyz says about a failed check: the class of err, never
// its text.
func Cause(err error) string {
	var sqlErr interface{ SQLState() string }
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "unavailable: timeout"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unavailable: unreachable"
	case errors.As(err, &sqlErr) && validSQLState(sqlErr.SQLState()):
		return "error: SQLSTATE " + sqlErr.SQLState()
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "unavailable: timeout"
		}
		return "unavailable: network error"
	}
	return "failed (see the log)"
}

// validSQLState accepts the five-character codes of SQLSTATE only, so that
// nothing else an error carries can reach the body.
func validSQLState(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
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
