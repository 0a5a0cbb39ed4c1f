package ops_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// Series the dashboard and the alerts may use that the service does not
// expose: Prometheus' own, and kube-state-metrics' view of the Deployment.
var externalMetrics = map[string]string{
	"up":                                    "Prometheus",
	"kube_deployment_status_replicas":       "kube-state-metrics",
	"kube_deployment_status_replicas_ready": "kube-state-metrics",
	"kube_deployment_status_replicas_unavailable": "kube-state-metrics",
}

// grafanaVars stands in for the dashboard's variables so that the
// expressions parse.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${namespace}", ".*", "$namespace", ".*",
	"${deployment}", "extauthz", "$deployment", "extauthz",
	"${envoy_timeout}", "0.25", "$envoy_timeout", "0.25",
)

// TestDashboardAndAlertsUseExposedMetrics checks every PromQL expression of
// deploy/monitoring (the Grafana dashboard and the alert rules) against a
// real scrape of the binary on PostgreSQL: every metric name must be one
// the service exposes (or a rule records, or Prometheus/kube-state-metrics
// provide). With EXTAUTHZ_PROMTOOL set, promtool also parses every
// expression.
func TestDashboardAndAlertsUseExposedMetrics(t *testing.T) {
	known := scrapeNames(t)
	dir := filepath.Join("..", "..", "deploy", "monitoring")
	exprs := dashboardExprs(t, filepath.Join(dir, "dashboard.json"))
	rules, records := ruleExprs(t, filepath.Join(dir, "alerts.rules.yaml"))
	for _, r := range records {
		known[r] = true
	}
	all := append(exprs, rules...)
	if len(exprs) < 10 || len(rules) < 5 {
		t.Fatalf("found %d dashboard and %d rule expressions: the parser missed some", len(exprs), len(rules))
	}
	used := map[string]bool{}
	for _, e := range all {
		for _, name := range metricNames(e.expr) {
			used[name] = true
			if !known[name] && externalMetrics[name] == "" {
				t.Errorf("%s: unknown metric %q in %s", e.where, name, e.expr)
			}
		}
	}
	// The dashboard shows what the issue asks for.
	for _, want := range []string{"extauthz_decisions_total", "extauthz_check_duration_seconds_bucket",
		"extauthz_cache_hits_total", "extauthz_change_feed_up", "extauthz_db_pool_acquired_connections",
		"extauthz_db_pool_max_connections", "kube_deployment_status_replicas_ready"} {
		if !used[want] {
			t.Errorf("no panel or rule uses %s", want)
		}
	}
	promtoolCheck(t, all)
}

type located struct{ where, expr string }

// scrapeNames starts the binary on PostgreSQL, makes a few checks so the
// labelled families have series, and returns every sample name scraped.
func scrapeNames(t *testing.T) map[string]bool {
	s := harness.Start(t, harness.Options{Config: baseConfig, DatabaseURL: pgtest.URL(t)})
	ctx := ctxTimeout(t, 30*time.Second)
	cookie := ""
	for range 3 { // a re-key, then session and profile cache hits
		resp, err := s.Check(ctx, alice(cookie))
		if err != nil {
			t.Fatal(err)
		}
		if tok := harness.Read(resp).SessionToken("extauthz_session"); tok != "" {
			cookie = "extauthz_session=" + tok
		}
	}
	if _, err := s.Check(ctx, harness.Request{Headers: map[string]string{"x-auth-request-email": "mallory@example.com"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "change feed up", func() bool {
		_, body, err := s.Get("/metrics")
		return err == nil && strings.Contains(body, "\nextauthz_change_feed_up 1\n")
	})
	code, body, err := s.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		switch f.GetType().String() {
		case "HISTOGRAM":
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case "SUMMARY":
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

func dashboardExprs(t *testing.T, path string) []located {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []located
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, located{"dashboard panel " + p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\(\s*(.+?)\s*,\s*\w+\s*\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		out = append(out, located{"dashboard variable " + v.Name, grafanaVars.Replace(q)})
	}
	return out
}

func ruleExprs(t *testing.T, path string) (exprs []located, records []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records = append(records, r.Record)
			}
			exprs = append(exprs, located{"rule " + r.Record + r.Alert, r.Expr})
		}
	}
	return exprs, records
}

var (
	promqlStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlLabelSet = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges and grouping
// label lists are removed, that are not keywords, function names (an
// identifier followed by "(") or parts of numbers and durations.
func metricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlLabelSet.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.") {
			continue // 1e3, 5m
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		if promqlKeywords[name] || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (app) (rate(extauthz_decisions_total{reason="lookup_unavailable", x=~"a|b"}[5m])) / on (app) group_left sum(x_total)`: "extauthz_decisions_total x_total",
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket{frontend="grpc"}[5m]))) > 0.8 * scalar(rec:envoy:seconds)`:               "a_bucket rec:envoy:seconds",
		`up == 0 and b offset 5m`:    "b up",
		`vector(1e3) > bool 2`:       "",
		`{__name__="only_matchers"}`: "",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// promtoolCheck has promtool parse every expression, as recording rules.
func promtoolCheck(t *testing.T, exprs []located) {
	bin := os.Getenv(EnvPromtool)
	if bin == "" {
		t.Logf("%s not set: expressions not parsed by promtool", EnvPromtool)
		return
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{fmt.Sprintf("check:expr_%d", i), e.expr})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "exprs.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "rules", f)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check rules on the dashboard and alert expressions: %v\n%s", err, out.String())
	}
	t.Logf("promtool parsed %d expressions: %s", len(exprs), strings.TrimSpace(out.String()))
}
