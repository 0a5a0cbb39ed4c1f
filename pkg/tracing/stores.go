package tracing

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// The attributes of a store span.
const (
	AttrStore  = "extauthz.store"  // profiles, sessions, tokens, app_sql
	AttrOp     = "extauthz.op"     // lookup, register, get, replace, delete, renew, bind
	AttrResult = "extauthz.result" // ok, not_found, unavailable, rate_limited, error
)

// The store labels of the built-in stores (as pkg/metrics names them).
const (
	storeSessions = "sessions"
	storeTokens   = "tokens"
)

// storeSpan starts the child span of one store call, or returns nil when
// ctx carries no recording span: a store call outside a traced check
// records nothing.
func storeSpan(ctx context.Context, t trace.Tracer, name, store, op string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String(AttrStore, store), attribute.String(AttrOp, op)))
}

// endStore records err's class on span (nil: none started) and ends it.
func endStore(span trace.Span, err error) {
	if span == nil {
		return
	}
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, authz.ErrNotFound):
		result = "not_found"
	case errors.Is(err, authz.ErrRateLimited):
		result = "rate_limited"
	case authz.IsTransient(err):
		result = "unavailable"
	default:
		result = "error"
	}
	span.SetAttributes(attribute.String(AttrResult, result))
	if result == "unavailable" || result == "error" {
		span.SetStatus(codes.Error, result) // never err's text: it may name who was looked up
	}
	span.End()
}

// Profiles returns next traced as store (the store label: "profiles", or
// "app_sql" for an app's own database), or next itself when t is nil.
func (t *Tracer) Profiles(next authz.ProfileSource, store string) authz.ProfileSource {
	if t == nil {
		return next
	}
	return profiles{next: next, t: t.t, store: store, lookup: store + ".lookup", register: store + ".register"}
}

type profiles struct {
	next                    authz.ProfileSource
	t                       trace.Tracer
	store, lookup, register string
}

func (p profiles) LookupProfile(ctx context.Context, email string) (authz.Profile, error) {
	ctx, span := storeSpan(ctx, p.t, p.lookup, p.store, "lookup")
	prof, err := p.next.LookupProfile(ctx, email)
	endStore(span, err)
	return prof, err
}

func (p profiles) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	ctx, span := storeSpan(ctx, p.t, p.register, p.store, "register")
	prof, err := p.next.RegisterProfile(ctx, email, name, app)
	endStore(span, err)
	return prof, err
}

// Sessions returns next traced, or next itself when t is nil.
func (t *Tracer) Sessions(next authz.SessionStore) authz.SessionStore {
	if t == nil {
		return next
	}
	return sessions{next: next, t: t.t}
}

type sessions struct {
	next authz.SessionStore
	t    trace.Tracer
}

func (s sessions) GetSession(ctx context.Context, h cookie.Hash) (authz.Session, error) {
	ctx, span := storeSpan(ctx, s.t, "sessions.get", storeSessions, "get")
	sess, err := s.next.GetSession(ctx, h)
	endStore(span, err)
	return sess, err
}

func (s sessions) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	ctx, span := storeSpan(ctx, s.t, "sessions.replace", storeSessions, "replace")
	err := s.next.ReplaceSession(ctx, old, next)
	endStore(span, err)
	return err
}

func (s sessions) DeleteSession(ctx context.Context, h cookie.Hash) error {
	ctx, span := storeSpan(ctx, s.t, "sessions.delete", storeSessions, "delete")
	err := s.next.DeleteSession(ctx, h)
	endStore(span, err)
	return err
}

func (s sessions) RenewSession(ctx context.Context, h cookie.Hash, renewed, expires time.Time) error {
	ctx, span := storeSpan(ctx, s.t, "sessions.renew", storeSessions, "renew")
	err := s.next.RenewSession(ctx, h, renewed, expires)
	endStore(span, err)
	return err
}

func (s sessions) BindSession(ctx context.Context, h cookie.Hash, app string, stale []cookie.Hash, at time.Time) error {
	ctx, span := storeSpan(ctx, s.t, "sessions.bind", storeSessions, "bind")
	err := s.next.BindSession(ctx, h, app, stale, at)
	endStore(span, err)
	return err
}

// Tokens returns next traced, or next itself when t is nil.
func (t *Tracer) Tokens(next authz.AccessTokenStore) authz.AccessTokenStore {
	if t == nil {
		return next
	}
	return tokens{next: next, t: t.t}
}

type tokens struct {
	next authz.AccessTokenStore
	t    trace.Tracer
}

func (k tokens) LookupAccessToken(ctx context.Context, h cookie.Hash) (authz.AccessToken, error) {
	ctx, span := storeSpan(ctx, k.t, "tokens.lookup", storeTokens, "lookup")
	at, err := k.next.LookupAccessToken(ctx, h)
	endStore(span, err)
	return at, err
}
