// Package outage turns the failures and successes of one dependency (a
// store, the change feed) into log lines an operator can act on: a WARN
// naming the cause on the first failure, again at most once per interval
// while failures go on (counting the ones in between), and an INFO when it
// answers again, with how long the outage lasted in seconds. A dependency
// that flaps logs at most one warning and one recovery per interval.
//
// The clock and the logger are injected; a Reporter is safe for
// concurrent use, and OK costs one atomic load while nothing fails.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultEvery is how often, at most, a lasting failure is logged again.
const DefaultEvery = 30 * time.Second

// Config configures a Reporter.
type Config struct {
	// Log receives the lines; nil discards.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Every is the least time between two warnings (default DefaultEvery).
	Every time.Duration
	// Down is the WARN message of a failure, Up the INFO message of the
	// recovery.
	Down, Up string
}

// Reporter reports the outages of one dependency.
type Reporter struct {
	cfg   Config
	attrs []any

	failing atomic.Bool

	mu       sync.Mutex
	since    time.Time // first failure of the current outage
	lastWarn time.Time // last warning, of any outage
	warned   bool      // the current outage was announced
	pending  int       // failures since the last warning
	total    int       // failures of the current outage
}

// New returns a Reporter whose lines carry attrs (key-value pairs, as for
// slog) besides their own.
func New(cfg Config, attrs ...any) *Reporter {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	return &Reporter{cfg: cfg, attrs: attrs}
}

// Failing reports whether the last outcome was a failure.
func (r *Reporter) Failing() bool { return r.failing.Load() }

// Fail records a failure caused by err; attrs (key-value pairs) are added
// to the warning if one is logged now.
func (r *Reporter) Fail(err error, attrs ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	if !r.failing.Load() {
		r.failing.Store(true)
		r.since, r.warned, r.total = now, false, 0
	}
	r.pending++
	r.total++
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < r.cfg.Every {
		return
	}
	args := append(append([]any{}, r.attrs...), attrs...)
	args = append(args, "err", err, "failures", r.pending, "failing_for_seconds", now.Sub(r.since).Seconds())
	r.cfg.Log.Warn(r.cfg.Down, args...)
	r.lastWarn, r.warned, r.pending = now, true, 0
}

// OK records a success. It reports whether it ended an announced outage
// (and so logged the recovery).
func (r *Reporter) OK() bool {
	if !r.failing.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failing.Load() {
		return false
	}
	r.failing.Store(false)
	if !r.warned {
		return false // counted in the next warning
	}
	args := append(append([]any{}, r.attrs...),
		"outage_seconds", r.cfg.Now().Sub(r.since).Seconds(), "failures", r.total)
	r.cfg.Log.Info(r.cfg.Up, args...)
	return true
}
