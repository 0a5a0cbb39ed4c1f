package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/extauthz/extauthz/pkg/authz"
)

// SpanCheck names the span of one check.
const SpanCheck = "extauthz.Check"

// The attributes of a check's span.
const (
	AttrFrontend = "extauthz.frontend" // grpc or http
	AttrApp      = "extauthz.app"      // the app whose policy decided
	AttrReason   = "extauthz.reason"   // the reason code
	AttrRow      = "extauthz.row"      // the decision-table row of the reason (Row)
	AttrStatus   = "extauthz.status"   // the HTTP status of the answer (200 on allow)
	AttrAllow    = "extauthz.allow"    // whether the request goes upstream
)

// Engine is an *authz.Engine whose decisions are traced. It embeds the
// engine, so that everything a front end asks of the engine besides
// Decide (its policies, for one) is still there.
type Engine struct {
	*authz.Engine
	t        *Tracer
	frontend string
}

// Engine returns e traced for frontend ("grpc", "http"), or e itself when
// t is nil.
func (t *Tracer) Engine(e *authz.Engine, frontend string) authz.Decider {
	if t == nil {
		return e
	}
	return &Engine{Engine: e, t: t, frontend: frontend}
}

// Decide implements authz.Decider under a SpanCheck span.
func (e *Engine) Decide(ctx context.Context, in authz.Input) authz.Decision {
	ctx, span := e.t.startCheck(ctx, e.frontend, in.Headers)
	d := e.Engine.Decide(ctx, in)
	endCheck(span, d, in.App)
	if sc := span.SpanContext(); sc.HasTraceID() {
		d.TraceID = sc.TraceID().String()
	}
	return d
}

// Rejected records the span of a check that frontend answered without a
// decision (a request it could not read: request_invalid), which took
// took. Its parent can only come from the gRPC metadata. Nil-safe.
func (t *Tracer) Rejected(ctx context.Context, frontend string, d authz.Decision, took time.Duration) {
	if t == nil {
		return
	}
	_, span := t.startCheck(ctx, frontend, nil, trace.WithTimestamp(time.Now().Add(-took)))
	endCheck(span, d, d.App)
}

func (t *Tracer) startCheck(ctx context.Context, frontend string, h authz.Headers, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if sc := Parent(ctx, h); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	opts = append(opts, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String(AttrFrontend, frontend)))
	return t.t.Start(ctx, SpanCheck, opts...)
}

// endCheck sets the decision's attributes on span and ends it. A 5xx
// answer is an error: the service, not the request, failed.
func endCheck(span trace.Span, d authz.Decision, app string) {
	if span.IsRecording() {
		if d.App != "" {
			app = d.App
		}
		if app == "" {
			app = authz.DefaultApp
		}
		span.SetAttributes(
			attribute.String(AttrApp, app),
			attribute.String(AttrReason, string(d.Reason)),
			attribute.Int(AttrStatus, d.Status),
			attribute.Bool(AttrAllow, d.Allow),
		)
		if row, ok := Row(d.Reason); ok {
			span.SetAttributes(attribute.Int(AttrRow, row))
		}
		if d.Status >= 500 {
			span.SetStatus(codes.Error, string(d.Reason))
		}
	}
	span.End()
}

// rows are the decision-table rows (README, "The decision") of the reasons
// that answer exactly one.
var rows = map[authz.Reason]int{
	authz.ReasonBypass:              0,
	authz.ReasonAccessToken:         1,
	authz.ReasonPassThrough:         1,
	authz.ReasonAccessTokenInvalid:  2,
	authz.ReasonIdentityMalformed:   3,
	authz.ReasonIdentityInvalid:     3,
	authz.ReasonLoggedOut:           3,
	authz.ReasonSessionOnly:         4,
	authz.ReasonAnonymous:           5,
	authz.ReasonLookupUnavailable:   6,
	authz.ReasonLookupError:         7,
	authz.ReasonRegistrationLimited: 8,
	authz.ReasonIdentityUnknown:     9,
	authz.ReasonProfileBlocked:      10,
	authz.ReasonProfileInactive:     10,
	authz.ReasonSessionMatch:        11,
	authz.ReasonSessionRenewed:      11,
	authz.ReasonRekey:               12,
	authz.ReasonIdentityChanged:     12,
}

// Row is the decision-table row that reason r answers. It reports false
// for the reasons that are not one row: identity_missing (row 4 or 5),
// flush_failed (the loop guard, on any row that flushes), logout (the
// logout_path, before row 0), misconfigured and request_invalid (no row
// applied).
func Row(r authz.Reason) (int, bool) {
	row, ok := rows[r]
	return row, ok
}
