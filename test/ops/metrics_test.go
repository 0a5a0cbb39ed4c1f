package ops_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/extauthz/extauthz/test/harness"
)

// EnvPromtool names the promtool binary to check the scrape with
// (`make ops-check` sets it from scripts/tool.sh). Without it the test still
// parses the exposition and lints it with promlint, the library promtool
// uses for `check metrics`.
const EnvPromtool = "EXTAUTHZ_PROMTOOL"

func TestMetricsScrapeIsValid(t *testing.T) {
	s := harness.Start(t, harness.Options{Config: baseConfig})
	ctx := ctxTimeout(t, 30*time.Second)
	// A few decisions, so the labelled series exist.
	for _, r := range []harness.Request{
		alice(""),
		{Headers: map[string]string{"x-auth-request-email": "mallory@example.com"}},
		{Headers: map[string]string{"x-auth-request-email": "not an email"}},
		{App: "no-such-app", Headers: map[string]string{"x-auth-request-email": "bob@example.com"}},
	} {
		if _, err := s.Check(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	code, body, err := s.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}

	// Parse: the text format, every family typed and helped.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	for _, name := range []string{
		"extauthz_decisions_total", "extauthz_check_duration_seconds", "extauthz_sessions_rekeyed_total",
		"extauthz_build_info", "go_goroutines", "process_resident_memory_bytes",
		"grpc_server_started_total", "grpc_server_handled_total", "grpc_server_handling_seconds",
	} {
		if families[name] == nil {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	want := map[string]bool{
		`default/allow/rekey/grpc`:             false,
		`default/deny/profile_blocked/grpc`:    false,
		`default/deny/identity_malformed/grpc`: false,
	}
	for _, m := range families["extauthz_decisions_total"].GetMetric() {
		l := labels(m)
		want[l["app"]+"/"+l["decision"]+"/"+l["reason"]+"/"+l["frontend"]] = true
		if l["app"] == "no-such-app" {
			t.Errorf("an unconfigured app became a label value: %v", l)
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no decision series %s", k)
		}
	}
	// The standard gRPC server series count the Checks by code.
	checks := 0.0
	for _, m := range families["grpc_server_handled_total"].GetMetric() {
		l := labels(m)
		if l["grpc_service"] == "envoy.service.auth.v3.Authorization" && l["grpc_method"] == "Check" && l["grpc_code"] == "OK" {
			checks = m.GetCounter().GetValue()
		}
	}
	if checks != 4 {
		t.Errorf("grpc_server_handled_total{Check,OK} = %v, want 4", checks)
	}

	// Lint, as `promtool check metrics` does.
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	bin := os.Getenv(EnvPromtool)
	if bin == "" {
		t.Logf("%s not set: parsed and linted with promlint only", EnvPromtool)
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	t.Logf("promtool check metrics: ok %s", strings.TrimSpace(out.String()))
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
