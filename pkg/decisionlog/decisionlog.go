// Package decisionlog writes one structured log line per decision: app,
// front end, decision, status, reason, profile id, duration_seconds and
// request id.
// It never writes cookie values or tokens. The asserted email is written
// only when the operator opts in; otherwise a keyed hash of it (HMAC-SHA256
// of the email normalised as the service compares it, truncated) lets an
// operator correlate lines of one user without the log holding the
// address; with one key for every replica (log.email_hash_key) the hash
// correlates across replicas and restarts. The app name may be whatever a
// client sent (an unknown app is logged too), so anything but a plain name
// is escaped and cut to 64 bytes.
package decisionlog

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
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
	// HashKey keys the email hash. Give every replica the same key so that
	// one person has one hash everywhere; a random key correlates lines of
	// one process lifetime only.
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
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("app", logApp(d.App)),
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
		e, err := authz.NormalizeEmail(vs[0])
		if err != nil || e == "" {
			e = strings.ToLower(strings.TrimSpace(clip(vs[0], 1024)))
		}
		if l.emails {
			attrs = append(attrs, slog.String("email", clip(e, 256)))
		} else {
			attrs = append(attrs, slog.String("email_hash", l.hash(e)))
		}
	}
	if d.Flushed {
		attrs = append(attrs, slog.Bool("flushed", true))
	}
	if d.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", d.TraceID))
	}
	l.log.LogAttrs(ctx, level, "decision", attrs...)
}

func (l *Logger) hash(s string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// maxApp bounds a logged app name; configured names are far shorter.
const maxApp = 64

// logApp returns app as it is when it could be a configured app name
// (letters, digits, '.', '_', '-'; at most maxApp bytes), else cut to
// maxApp bytes and quoted with every non-ASCII or control character
// escaped, and how much was cut.
func logApp(app string) string {
	if len(app) <= maxApp && plainName(app) {
		return app
	}
	cut := app
	if len(cut) > maxApp {
		cut = strings.ToValidUTF8(cut[:maxApp], "")
	}
	q := strconv.QuoteToASCII(cut)
	if n := len(app) - len(cut); n > 0 {
		q += fmt.Sprintf("...(%d more bytes)", n)
	}
	return q
}

func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
