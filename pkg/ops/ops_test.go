package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extauthz/extauthz/pkg/ops"
)

func serve(t *testing.T, s *ops.Server, path string) (int, string) {
	t.Helper()
	mux := http.NewServeMux()
	s.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestEndpoints(t *testing.T) {
	dbDown := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	var db error
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}))
	s := ops.New(reg,
		ops.Check{Name: "database", Fn: func(context.Context) error { return db }},
		ops.Check{Name: "change_feed", Optional: true, Fn: func(context.Context) error { return errors.New("reconnecting") }},
	)
	if code, _ := serve(t, s, "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	code, body := serve(t, s, "/readyz")
	var st ops.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || !st.Ready || st.Checks["change_feed"] != "reconnecting" {
		t.Fatalf("/readyz = %d %s (an optional check must not fail readiness)", code, body)
	}
	db = dbDown
	if code, body := serve(t, s, "/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Fatalf("/readyz with the database down = %d %s", code, body)
	}
	if code, _ := serve(t, s, "/healthz"); code != 200 {
		t.Fatal("liveness must not depend on the database")
	}
	db = nil
	s.Drain()
	if code, body := serve(t, s, "/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz while draining = %d %s", code, body)
	}
	if code, body := serve(t, s, "/metrics"); code != 200 || !strings.Contains(body, "x_total 0") {
		t.Fatalf("/metrics = %d %s", code, body)
	}
}

func TestPprofOptIn(t *testing.T) {
	s := ops.New(nil)
	if code, _ := serve(t, s, "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("/debug/pprof/ without opting in = %d, want 404", code)
	}
	mux := http.NewServeMux()
	s.Mount(mux)
	ops.MountPprof(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/goroutine?debug=1", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine profile") {
		t.Fatalf("/debug/pprof/goroutine = %d %.80s", rec.Code, rec.Body.String())
	}
}
