package ops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// A database outage is visible in the log within a request: a WARN naming
// the store and the cause on the first failure, an INFO with the outage's
// length when the database answers again. Before, 12 s of outage logged
// nothing at all (connect failures were at DEBUG).
func TestDatabaseOutageIsLogged(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.NewDatabase(t)
	s := harness.Start(t, harness.Options{Config: "log: {format: json, level: info}\ncookie: {secure: false}\n", DatabaseURL: db})
	ask := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		// A never-seen email: never cached, always a store trip.
		if _, err := s.Check(ctx, harness.Request{Headers: map[string]string{"x-auth-request-email": fmt.Sprintf("new%d@example.com", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	ask(0)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ask(1 + i)
	}
	logs := s.Logs()
	if n := strings.Count(logs, `"msg":"store failing`); n != 1 {
		t.Errorf("%d store failure warnings after 5 failed lookups, want 1 (the first; then at most every 30 s):\n%s", n, logs)
	}
	if !strings.Contains(logs, `"level":"WARN","msg":"store failing`) || !strings.Contains(logs, `"store":"profiles"`) {
		t.Errorf("no WARN naming the store:\n%s", logs)
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 10; !strings.Contains(s.Logs(), `"msg":"store answering again"`); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery INFO within 30 s of the database coming back:\n%s", s.Logs())
		}
		ask(i)
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if !strings.Contains(s.Logs(), `"outage_seconds":`) {
		t.Errorf("recovery line without outage_seconds:\n%s", s.Logs())
	}
}

// With a database, the scrape has the pool's series and every series the
// README's alerts use, at 0, before any failure; and it still lints.
func TestMetricsScrapeOnDatabase(t *testing.T) {
	s := harness.Start(t, harness.Options{Config: "cookie: {secure: false}\n", DatabaseURL: pgtest.URL(t)})
	code, body, err := s.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	for _, name := range []string{
		"extauthz_db_pool_acquired_connections", "extauthz_db_pool_idle_connections",
		"extauthz_db_pool_constructing_connections", "extauthz_db_pool_total_connections",
		"extauthz_db_pool_canceled_acquires_total", "extauthz_db_pool_acquire_wait_seconds_total",
		"extauthz_change_feed_up",
	} {
		if families[name] == nil {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	if mf := families["extauthz_db_pool_total_connections"]; mf != nil && mf.GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Errorf("extauthz_db_pool_total_connections = %v on a warm pool", mf.GetMetric()[0].GetGauge().GetValue())
	}
	found := map[string]bool{}
	for _, m := range families["extauthz_decisions_total"].GetMetric() {
		l := labels(m)
		found["decisions "+l["reason"]+" "+l["frontend"]] = true
	}
	for _, m := range families["extauthz_store_errors_total"].GetMetric() {
		l := labels(m)
		found["store_errors "+l["store"]+" "+l["class"]] = true
	}
	for _, k := range []string{
		"decisions lookup_unavailable grpc", "decisions lookup_unavailable http",
		"store_errors profiles unavailable", "store_errors sessions unavailable", "store_errors tokens unavailable",
	} {
		if !found[k] {
			t.Errorf("no %s series before the first failure", k)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
