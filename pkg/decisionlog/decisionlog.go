// Package decisionlog writes one structured log line per decision: app,
// front end, decision, status, reason, profile id, duration_seconds and
// request id.
// It never writes cookie values or tokens. The asserted email is written
// only when the operator opts in; otherwise a keyed hash of it (HMAC-SHA256,
// truncated) lets an operator correlate lines of one user without the log
// holding the address.
package decisionlog

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Logger writes decision lines.
type Logger struct {
	log    *slog.Logger
	level  slog.Level
	sample float64
	emails bool
	key    []byte
	header func(app string) string // the app's email header
}

// Options configure a Logger.
type Options struct {
	// Level of allow lines; denials are logged one level higher (at least Info).
	Level slog.Level
	// Sample is the fraction of allow lines written (0..1); denials are
	// always written.
	Sample float64
	// Emails writes the asserted email in clear.
	Emails bool
	// HashKey keys the email hash; a random one is fine (hashes then only
	// correlate within one process lifetime).
	HashKey []byte
	// EmailHeader returns the email header name of an app.
	EmailHeader func(app string) string
}

// New returns a Logger writing to l.
func New(l *slog.Logger, o Options) *Logger {
	if o.EmailHeader == nil {
		o.EmailHeader = func(string) string { return "x-auth-request-email" }
	}
	return &Logger{log: l, level: o.Level, sample: o.Sample, emails: o.Emails, key: o.HashKey, header: o.EmailHeader}
}

// Log writes the line for one decision.
func (l *Logger) Log(ctx context.Context, frontend string, in authz.Input, d authz.Decision, took time.Duration) {
	level := l.level
	if !d.Allow {
		level = max(level+4, slog.LevelInfo)
	} else if l.sample < 1 && rand.Float64() >= l.sample {
		return
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	outcome := "deny"
	if d.Allow {
		outcome = "allow"
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("app", d.App),
		slog.String("frontend", frontend),
		slog.String("decision", outcome),
		slog.Int("status", d.Status),
		slog.String("reason", string(d.Reason)),
		slog.Float64("duration_seconds", took.Seconds()),
	)
	if d.ProfileID != "" {
		attrs = append(attrs, slog.String("profile_id", d.ProfileID))
	}
	if in.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", clip(in.RequestID, 128)))
	}
	if vs := in.Headers.Get(l.header(d.App)); len(vs) > 0 {
		e := strings.ToLower(strings.TrimSpace(vs[0]))
		if l.emails {
			attrs = append(attrs, slog.String("email", clip(e, 256)))
		} else {
			attrs = append(attrs, slog.String("email_hash", l.hash(e)))
		}
	}
	if d.Flushed {
		attrs = append(attrs, slog.Bool("flushed", true))
	}
	l.log.LogAttrs(ctx, level, "decision", attrs...)
}

func (l *Logger) hash(s string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
