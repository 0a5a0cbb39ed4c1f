package outage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/outage"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func lines(buf *bytes.Buffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestFirstFailureWarnsThenAtMostEveryIntervalAndRecoveryInfo(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	r := outage.New(outage.Config{
		Log: slog.New(slog.NewJSONHandler(&buf, nil)), Now: clock.now, Every: 30 * time.Second,
		Down: "store failing", Up: "store answering again",
	}, "store", "profiles")

	r.OK() // healthy: nothing to say
	if got := lines(&buf); len(got) != 0 {
		t.Fatalf("OK while healthy logged %v", got)
	}

	r.Fail(errors.New("connection refused"), "op", "lookup")
	got := lines(&buf)
	if len(got) != 1 || got[0]["level"] != "WARN" || got[0]["msg"] != "store failing" ||
		got[0]["err"] != "connection refused" || got[0]["store"] != "profiles" || got[0]["op"] != "lookup" ||
		got[0]["failures"] != 1.0 || got[0]["failing_for_seconds"] != 0.0 {
		t.Fatalf("first failure: %v", got)
	}

	// More failures within the interval: counted, not logged.
	for range 9 {
		clock.add(3 * time.Second)
		r.Fail(errors.New("connection refused"), "op", "lookup")
	}
	if got := lines(&buf); len(got) != 0 {
		t.Fatalf("failures within 30s logged %d lines: %v", len(got), got)
	}
	clock.add(3 * time.Second) // 30 s after the first warning
	r.Fail(errors.New("timeout"), "op", "get")
	got = lines(&buf)
	if len(got) != 1 || got[0]["level"] != "WARN" || got[0]["err"] != "timeout" ||
		got[0]["failures"] != 10.0 || got[0]["failing_for_seconds"] != 30.0 {
		t.Fatalf("failure 30s on: %v", got)
	}

	clock.add(1500 * time.Millisecond)
	r.OK()
	got = lines(&buf)
	if len(got) != 1 || got[0]["level"] != "INFO" || got[0]["msg"] != "store answering again" ||
		got[0]["store"] != "profiles" || got[0]["outage_seconds"] != 31.5 || got[0]["failures"] != 11.0 {
		t.Fatalf("recovery: %v", got)
	}
	r.OK()
	if got := lines(&buf); len(got) != 0 {
		t.Fatalf("second OK logged %v", got)
	}
}

// A dependency that flaps (fails, answers, fails…) within the interval
// logs at most one warning and one recovery per interval; the failures of
// the unannounced outages are counted in the next warning.
func TestFlappingIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	r := outage.New(outage.Config{
		Log: slog.New(slog.NewJSONHandler(&buf, nil)), Now: clock.now, Every: 30 * time.Second,
		Down: "down", Up: "up",
	})
	for range 20 {
		r.Fail(errors.New("reset"))
		clock.add(time.Second)
		r.OK()
		clock.add(time.Second)
	}
	got := lines(&buf)
	if len(got) != 4 || got[0]["msg"] != "down" || got[1]["msg"] != "up" || got[2]["msg"] != "down" || got[3]["msg"] != "up" {
		t.Fatalf("40 s of flapping every second: %v", got)
	}
	if got[2]["failures"] != 15.0 {
		t.Errorf("second warning counts %v failures, want the 15 since the first", got[2]["failures"])
	}
}

func TestNilLoggerAndClockDefault(t *testing.T) {
	r := outage.New(outage.Config{Down: "down", Up: "up"})
	r.Fail(errors.New("x"))
	if !r.Failing() {
		t.Fatal("not failing after Fail")
	}
	r.OK()
	if r.Failing() {
		t.Fatal("failing after OK")
	}
}
