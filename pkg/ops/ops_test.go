package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
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
	dbDown := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
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
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || !st.Ready || !strings.HasPrefix(st.Checks["change_feed"], "failed") {
		t.Fatalf("/readyz = %d %s (an optional check must not fail readiness)", code, body)
	}
	db = dbDown
	if code, body := serve(t, s, "/readyz"); code != 503 || strings.Contains(body, "127.0.0.1") || !strings.Contains(body, `"database":"unavailable`) {
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

// TestReadyzHidesErrorDetails: /readyz is often reachable by more than the
// operator; a database error's text names the user, the database and the
// host. It shows the class of the failure; the log has the detail.
func TestReadyzHidesErrorDetails(t *testing.T) {
	detail := "failed to connect to `user=extauthz_svc database=extauthz_prod`: db.internal.example:5432 (10.1.2.3)"
	refused := fmt.Errorf("%s: dial error: %w", detail, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"connection refused", refused, "unreachable"},
		{"timeout", fmt.Errorf("%s: %w", detail, context.DeadlineExceeded), "timeout"},
		{"anything else", errors.New(detail), "failed"},
		{"sqlstate", fmt.Errorf("%s: %w", detail, sqlState("28P01")), "SQLSTATE 28P01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			s := ops.New(nil, ops.Check{Name: "database", Fn: func(context.Context) error { return tt.err }}).
				WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))
			code, body := serve(t, s, "/readyz")
			if code != 503 {
				t.Fatalf("/readyz = %d %s", code, body)
			}
			for _, secret := range []string{"extauthz_svc", "extauthz_prod", "db.internal", "10.1.2.3", "5432"} {
				if strings.Contains(body, secret) {
					t.Errorf("/readyz reveals %q: %s", secret, body)
				}
			}
			var st ops.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(st.Checks["database"], tt.want) {
				t.Errorf("database = %q, want it to say %q", st.Checks["database"], tt.want)
			}
			if !strings.Contains(logs.String(), "extauthz_prod") {
				t.Errorf("the detail is not logged: %s", logs.String())
			}
		})
	}
}

type sqlState string

func (s sqlState) Error() string {
	return "ERROR: password authentication failed for user \"extauthz_svc\" (SQLSTATE " + string(s) + ")"
}
func (s sqlState) SQLState() string { return string(s) }
