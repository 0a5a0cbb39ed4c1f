// Package ops_test drives the real extauthz binary the way an operator's
// systems do: Prometheus scrapes it, Kubernetes probes it, a rollout sends
// SIGTERM under load, the database goes away, an operator revokes sessions
// through the admin API.
package ops_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// baseConfig seeds alice and bob and blocks mallory; cookies work over the
// test's plain connection.
const baseConfig = `
log: {format: json, level: info}
cookie: {secure: false}
seed_profiles:
  - {email: alice@example.com, name: Alice}
  - {email: bob@example.com, name: Bob}
  - {email: mallory@example.com, name: Mallory, blocked: true}
`

// alice is a request carrying alice's asserted identity.
func alice(cookie string) harness.Request {
	return harness.Request{
		Headers: map[string]string{"x-auth-request-email": "alice@example.com", "accept": "text/html"},
		Cookie:  cookie,
	}
}

// httpStatus returns the HTTP status of GET path, 0 when the request fails.
func httpStatus(s *harness.Service, path string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.HTTPAddr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
