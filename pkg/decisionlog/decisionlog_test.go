package decisionlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/decisionlog"
)

const (
	sessionToken = "c2Vzc2lvbi10b2tlbi10aGF0LW11c3Qtbm90LWxlYWs"
	accessToken  = "tok_6f1d4b1d2a8e4c0fa4b36a0b8f2a1c77"
	nativeValue  = "plane-native-session-value-123"
	email        = "Alice@Example.com"
)

// input is a request that carries every kind of secret a log could leak.
func input() authz.Input {
	h := authz.Headers{}
	h.Add("x-auth-request-email", email)
	h.Add("cookie", "extauthz_session="+sessionToken+"; plane_session="+nativeValue)
	h.Add("authorization", "Token "+accessToken)
	h.Add("x-request-id", "req-42")
	return authz.Input{
		App: "plane", Method: "GET", Host: "plane.example.com", Path: "/?t=" + accessToken,
		Headers:   h,
		Cookies:   append(cookie.Parse("extauthz_session="+sessionToken), cookie.Parse("plane_session="+nativeValue)...),
		RequestID: "req-42",
	}
}

// decision is a re-key that sets a fresh session cookie.
func decision() authz.Decision {
	return authz.Decision{
		Allow: true, Status: 200, Reason: authz.ReasonIdentityChanged, App: "plane", ProfileID: "p-1",
		SetCookies:  []string{"extauthz_session=" + sessionToken + "2; Path=/; HttpOnly; Secure; SameSite=Lax"},
		UpstreamSet: []authz.Header{{Name: "cookie", Value: "plane_session=" + nativeValue}},
		Flushed:     true, Rekeyed: true,
	}
}

// logLine logs one decision and returns the JSON line, parsed, and raw.
func logLine(t *testing.T, o decisionlog.Options, d authz.Decision) (map[string]any, string) {
	t.Helper()
	var buf bytes.Buffer
	l := decisionlog.New(slog.New(slog.NewJSONHandler(&buf, nil)), o)
	l.Log(context.Background(), "grpc", input(), d, 1500*time.Microsecond)
	raw := buf.String()
	if strings.Count(raw, "\n") != 1 {
		t.Fatalf("want exactly one line, got %q", raw)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return m, raw
}

func TestLineHasTheFields(t *testing.T) {
	m, _ := logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: []byte("k")}, decision())
	want := map[string]any{
		"msg": "decision", "level": "INFO", "app": "plane", "frontend": "grpc", "decision": "allow",
		"status": float64(200), "reason": "identity_changed", "profile_id": "p-1",
		"request_id": "req-42", "flushed": true, "duration_seconds": 0.0015,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if _, ok := m["time"]; !ok {
		t.Error("no time field")
	}
}

func TestNeverLogsCookieValuesOrTokens(t *testing.T) {
	for _, emails := range []bool{false, true} {
		_, raw := logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, Emails: emails, HashKey: []byte("k")}, decision())
		for _, secret := range []string{sessionToken, accessToken, nativeValue} {
			if strings.Contains(raw, secret) {
				t.Errorf("log_emails=%t: line contains a secret %q: %s", emails, secret, raw)
			}
		}
	}
}

func TestEmailHashedUnlessOptedIn(t *testing.T) {
	key := []byte("process-key")
	m, raw := logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: key}, decision())
	if strings.Contains(strings.ToLower(raw), "alice") {
		t.Errorf("email in the log without opt-in: %s", raw)
	}
	if _, ok := m["email"]; ok {
		t.Error("email field present without opt-in")
	}
	h, _ := m["email_hash"].(string)
	if len(h) != 16 {
		t.Fatalf("email_hash = %q, want 16 hex digits", h)
	}
	// The hash is keyed and stable within a key: it correlates lines of one
	// user, and a different key (another process) gives another value.
	m2, _ := logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: key}, decision())
	m3, _ := logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: []byte("other")}, decision())
	if m2["email_hash"] != h || m3["email_hash"] == h {
		t.Errorf("hash not keyed/stable: %v %v %v", h, m2["email_hash"], m3["email_hash"])
	}

	m, _ = logLine(t, decisionlog.Options{Level: slog.LevelInfo, Sample: 1, Emails: true, HashKey: key}, decision())
	if m["email"] != "alice@example.com" {
		t.Errorf("email = %v, want the normalised address when opted in", m["email"])
	}
	if _, ok := m["email_hash"]; ok {
		t.Error("email_hash alongside the clear email")
	}
}

func TestDenialsAlwaysLoggedAllowsSampled(t *testing.T) {
	var buf bytes.Buffer
	l := decisionlog.New(slog.New(slog.NewJSONHandler(&buf, nil)), decisionlog.Options{Level: slog.LevelInfo, Sample: 0, HashKey: []byte("k")})
	l.Log(context.Background(), "grpc", input(), decision(), time.Millisecond)
	if buf.Len() != 0 {
		t.Errorf("sample 0 logged an allow: %s", buf.String())
	}
	deny := authz.Decision{Status: 503, Reason: authz.ReasonLookupUnavailable, App: "plane"}
	l.Log(context.Background(), "http", input(), deny, time.Millisecond)
	if !strings.Contains(buf.String(), `"reason":"lookup_unavailable"`) || !strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Errorf("denial not logged at WARN: %s", buf.String())
	}
}

// TestEmailHashOfTheNormalisedEmail: the hash is of the identity as the
// service compares it (authz.NormalizeEmail), so one person has one hash
// whatever form the proxy sent the address in.
func TestEmailHashOfTheNormalisedEmail(t *testing.T) {
	o := decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: []byte("shared-key-0123456789")}
	hashFor := func(email string) string {
		t.Helper()
		var buf bytes.Buffer
		l := decisionlog.New(slog.New(slog.NewJSONHandler(&buf, nil)), o)
		in := input()
		in.Headers = authz.Headers{}
		in.Headers.Add("x-auth-request-email", email)
		l.Log(context.Background(), "grpc", in, decision(), time.Millisecond)
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		h, _ := m["email_hash"].(string)
		if h == "" {
			t.Fatalf("no email_hash: %s", buf.String())
		}
		return h
	}
	composed := hashFor("\u00e4lice@example.com")    // ä as one code point
	decomposed := hashFor("a\u0308lice@example.com") // a + combining diaeresis
	if composed != decomposed {
		t.Errorf("one address, two hashes: %s (composed) vs %s (decomposed)", composed, decomposed)
	}
	if a, b := hashFor("Alice@Example.com"), hashFor(" alice@example.com "); a != b {
		t.Errorf("case and spacing change the hash: %s vs %s", a, b)
	}
}

// TestAppNameBoundedAndEscaped: the app name of a decision can be whatever
// a client put in ?app= (an unknown app is still logged); a 60 KB name must
// not make a 60 KB line, nor smuggle control or bidi characters into it.
func TestAppNameBoundedAndEscaped(t *testing.T) {
	var buf bytes.Buffer
	l := decisionlog.New(slog.New(slog.NewTextHandler(&buf, nil)), decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: []byte("k")})
	long := strings.Repeat("A", 60_000) + "\u202e\x1b[31m\nfake=line"
	l.Log(context.Background(), "http", authz.Input{App: long}, authz.Decision{Status: 503, Reason: authz.ReasonMisconfigured, App: long}, time.Millisecond)
	line := buf.String()
	if len(line) > 1024 {
		t.Errorf("line of %d bytes for a 60 KB app name", len(line))
	}
	if strings.Contains(line, "\u202e") || strings.Contains(line, "\x1b") || strings.Count(line, "\n") != 1 {
		t.Errorf("control or bidi characters reached the line: %q", line)
	}
	// A real app name is logged as it is.
	buf.Reset()
	l.Log(context.Background(), "http", authz.Input{App: "plane-2.web_x"}, authz.Decision{Status: 403, App: "plane-2.web_x"}, time.Millisecond)
	if !strings.Contains(buf.String(), "app=plane-2.web_x ") {
		t.Errorf("a valid app name was altered: %s", buf.String())
	}
}

// A traced decision's line carries its trace id; an untraced one none.
func TestLineCarriesTheTraceID(t *testing.T) {
	o := decisionlog.Options{Level: slog.LevelInfo, Sample: 1, HashKey: []byte("k")}
	d := decision()
	if m, _ := logLine(t, o, d); m["trace_id"] != nil {
		t.Errorf("untraced line has trace_id %v", m["trace_id"])
	}
	d.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if m, _ := logLine(t, o, d); m["trace_id"] != d.TraceID {
		t.Errorf("trace_id = %v, want %s", m["trace_id"], d.TraceID)
	}
}
