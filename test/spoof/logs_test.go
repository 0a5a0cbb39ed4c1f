package spoof

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/test/harness"
)

// logLines parses the JSON log lines of svc.
func logLines(t *testing.T, svc *harness.Service) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(svc.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestUnknownAppLogIsBounded: a 60 KB app name in ?app= (or a route's
// context extension) must not make a 60 KB log line (issue item 13).
func TestUnknownAppLogIsBounded(t *testing.T) {
	svc := harness.Start(t, harness.Options{Config: attackConfig})
	long := strings.Repeat("A", 60_000) + "\u202e" + marker
	resp := rawHTTP(t, svc.CheckAddr, "GET", "/check?app="+long)
	wantStatus(t, resp, 503, "misconfigured")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := bigCheck(0)
	req.Attributes.ContextExtensions["app"] = long
	if _, err := authv3.NewAuthorizationClient(svc.Conn()).Check(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The log reaches us through a pipe: wait for both lines.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Count(svc.Logs(), `"reason":"misconfigured"`) >= 2 {
			break
		}
	}
	var seen int
	for _, line := range strings.Split(svc.Logs(), "\n") {
		if len(line) > 2048 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
		if strings.Contains(line, marker) || strings.Contains(line, "\u202e") {
			t.Errorf("unescaped or untruncated app name in the log: %.200s", line)
		}
		if strings.Contains(line, `"reason":"misconfigured"`) {
			seen++
		}
	}
	if seen < 2 {
		t.Errorf("want both denials logged, saw %d", seen)
	}
}

// TestEmailHashCorrelatesReplicas: with log.email_hash_key set, the
// email_hash of one person is the same on every replica and whatever the
// case or spacing the proxy sent; without it the service warns at start.
func TestEmailHashCorrelatesReplicas(t *testing.T) {
	const key = "shared-email-hash-key-0123456789"
	cfg := attackConfig + "log: {level: debug, format: json, email_hash_key: " + key + "}\n"
	cfg = strings.Replace(cfg, "log: {level: debug, format: json}\n", "", 1)
	a := harness.Start(t, harness.Options{Config: cfg})
	b := harness.Start(t, harness.Options{Env: []string{"EXTAUTHZ_LOG_EMAIL_HASH_KEY=" + key}, Config: attackConfig})
	hashOf := func(svc *harness.Service, email string) string {
		t.Helper()
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", emailH(email))
		if resp.StatusCode != 200 {
			t.Fatalf("check of %q: %d", email, resp.StatusCode)
		}
		// The log reaches us through a pipe: poll for the line.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, m := range logLines(t, svc) {
				if h, _ := m["email_hash"].(string); m["msg"] == "decision" && h != "" {
					return h
				}
			}
		}
		t.Fatalf("no email_hash logged:\n%s", svc.Logs())
		return ""
	}
	h1 := hashOf(a, "Alice@Example.com")
	h2 := hashOf(b, " alice@example.com")
	if h1 != h2 {
		t.Errorf("one person, two replicas with the same key: email_hash %s vs %s", h1, h2)
	}
	for _, svc := range []*harness.Service{a, b} {
		if strings.Contains(svc.Logs(), key) {
			t.Errorf("the hash key is in the log")
		}
	}

	c := harness.Start(t, harness.Options{Config: attackConfig})
	warned := func() bool {
		for _, m := range logLines(t, c) {
			if m["level"] == "WARN" && strings.Contains(fmt.Sprint(m["msg"]), "email_hash_key") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !warned() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !warned() {
		t.Errorf("no warning at start without log.email_hash_key:\n%s", c.Logs())
	}
}
