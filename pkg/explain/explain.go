// Package explain runs the decision for a described request against the
// real stores without writing to them: the operator's "why did this route
// answer that?" tool. `extauthz check` and the admin API's Explain share it.
//
// Reads go to the stores (so the answer is the one the service would give
// now); writes — re-key, renew, delete, register — are recorded as Effects
// and not made. The loop guard is off (it would remember earlier
// explanations), so a repeated flush of one binding explains as a flush, not
// as flush_failed. New session tokens are minted but never stored; Result
// shows them redacted.
package explain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// Request describes one request the way a front end would see it.
type Request struct {
	App     string // "" is the default app
	Method  string // GET when empty
	Host    string // app.example.com when empty
	Path    string // raw target with query; "/" when empty
	Headers []authz.Header
	// Cookies are "name=value" pairs, sent as one Cookie header.
	Cookies []string
}

// ErrRequest reports a Request that cannot be turned into an input.
var ErrRequest = errors.New("invalid request")

// Input turns r into the decision input, the way the front ends do.
func (r Request) Input() (authz.Input, error) {
	in := authz.Input{App: r.App, Method: r.Method, Scheme: "https", Host: r.Host, Path: r.Path, Headers: authz.Headers{}}
	if in.Method == "" {
		in.Method = "GET"
	}
	if in.Host == "" {
		in.Host = "app.example.com"
	}
	if in.Path == "" {
		in.Path = "/"
	}
	for _, h := range r.Headers {
		name := strings.TrimSpace(h.Name)
		if name == "" {
			return authz.Input{}, fmt.Errorf("%w: a header without a name", ErrRequest)
		}
		in.Headers.Add(name, strings.TrimSpace(h.Value))
	}
	if len(r.Cookies) > 0 {
		in.Headers.Add("cookie", strings.Join(r.Cookies, "; "))
	}
	for _, c := range in.Headers.Get("cookie") {
		in.Cookies = append(in.Cookies, cookie.Parse(c)...)
	}
	in.RequestID = firstOf(in.Headers.Get("x-request-id"))
	return in, nil
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Result is a decision with what it would have written.
type Result struct {
	authz.Decision
	// Effects are the store writes the decision would make, in order.
	Effects []string
}

// RedactedSetCookies returns the Set-Cookie lines with new token values
// hidden: a session token on a terminal or in an admin client is still a
// secret. Expiring lines (empty value) are unchanged.
func (r Result) RedactedSetCookies() []string {
	out := make([]string, len(r.SetCookies))
	for i, c := range r.SetCookies {
		out[i] = Redact(c)
	}
	return out
}

// Redact hides the value of one Set-Cookie line.
func Redact(setCookie string) string {
	nv, attrs, hasAttrs := strings.Cut(setCookie, ";")
	name, value, _ := strings.Cut(nv, "=")
	if value != "" {
		value = "<new token>"
	}
	if !hasAttrs {
		return name + "=" + value
	}
	return name + "=" + value + ";" + attrs
}

// Explainer explains decisions. It is safe for concurrent use.
type Explainer struct {
	engine *authz.Engine
}

// Config wires an Explainer: the same apps (policies and profile sources),
// session and token stores the service decides with.
type Config struct {
	Apps     []authz.App
	Sessions authz.SessionStore
	Tokens   authz.AccessTokenStore
	// LookupTimeout bounds the store reads; default 5s (an operator waits).
	LookupTimeout time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// New returns an Explainer over dry-run wrappers of cfg's stores.
func New(cfg Config) (*Explainer, error) {
	apps := make([]authz.App, len(cfg.Apps))
	for i, a := range cfg.Apps {
		apps[i] = authz.App{Policy: a.Policy, Profiles: dryRunProfiles{ProfileSource: a.Profiles}, Identity: a.Identity}
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 5 * time.Second
	}
	eng, err := authz.New(authz.Config{
		Apps:          apps,
		Sessions:      dryRunSessions{SessionStore: cfg.Sessions},
		Tokens:        cfg.Tokens,
		Hops:          authz.NewHopLedger(-1),
		Now:           cfg.Now,
		LookupTimeout: cfg.LookupTimeout,
	})
	if err != nil {
		return nil, err
	}
	return &Explainer{engine: eng}, nil
}

// Explain decides r without writing anything.
func (e *Explainer) Explain(ctx context.Context, r Request) (Result, error) {
	in, err := r.Input()
	if err != nil {
		return Result{}, err
	}
	rec := &recorder{}
	d := e.engine.Decide(context.WithValue(ctx, recorderKey{}, rec), in)
	return Result{Decision: d, Effects: rec.notes()}, nil
}

// recorder collects the writes of one explanation; the dry-run stores find
// it in the context, so one engine serves concurrent explanations.
type recorder struct {
	mu sync.Mutex
	n  []string
}

type recorderKey struct{}

func (r *recorder) notes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.n...)
}

func note(ctx context.Context, format string, args ...any) {
	if r, ok := ctx.Value(recorderKey{}).(*recorder); ok {
		r.mu.Lock()
		r.n = append(r.n, fmt.Sprintf(format, args...))
		r.mu.Unlock()
	}
}

// short is the hash prefix operators see in `session list`.
func short(h cookie.Hash) string { return h.String()[:16] }

// dryRunSessions reads from the real store and only records writes.
type dryRunSessions struct{ authz.SessionStore }

func (d dryRunSessions) ReplaceSession(ctx context.Context, old cookie.Hash, next authz.Session) error {
	if !old.IsZero() {
		note(ctx, "would delete session %s", short(old))
	}
	note(ctx, "would create session %s for profile %s (expires %s)", short(next.Hash), next.ProfileID, next.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func (d dryRunSessions) DeleteSession(ctx context.Context, h cookie.Hash) error {
	note(ctx, "would delete session %s", short(h))
	return nil
}

func (d dryRunSessions) RenewSession(ctx context.Context, h cookie.Hash, _, expires time.Time) error {
	note(ctx, "would renew session %s until %s", short(h), expires.UTC().Format(time.RFC3339))
	return nil
}

func (d dryRunSessions) BindSession(ctx context.Context, h cookie.Hash, app string, _ []cookie.Hash, _ time.Time) error {
	note(ctx, "would bind session %s to app %s too", short(h), app)
	return nil
}

// dryRunProfiles never registers.
type dryRunProfiles struct{ authz.ProfileSource }

func (d dryRunProfiles) RegisterProfile(ctx context.Context, email, name, app string) (authz.Profile, error) {
	if p, err := d.LookupProfile(ctx, email); err == nil {
		return p, nil
	}
	note(ctx, "would register a profile for the asserted email")
	return authz.Profile{ID: "(new profile)", Email: email, Name: name, Active: true, RegisteredBy: app}, nil
}

// Print writes r the way an operator reads it: outcome, reason, profile,
// then every header mutation and store effect, one per line.
func Print(w io.Writer, r Result) {
	d := r.Decision
	outcome := "DENY"
	if d.Allow {
		outcome = "ALLOW"
	}
	fmt.Fprintf(w, "decision:  %s %d\nreason:    %s\napp:       %s\n", outcome, d.Status, d.Reason, d.App)
	if d.ProfileID != "" {
		fmt.Fprintf(w, "profile:   %s\n", d.ProfileID)
	}
	if d.Allow {
		for _, h := range d.UpstreamSet {
			fmt.Fprintf(w, "upstream set:     %s: %s\n", h.Name, h.Value)
		}
		for _, h := range d.UpstreamRemove {
			fmt.Fprintf(w, "upstream remove:  %s\n", h)
		}
	}
	for _, c := range r.RedactedSetCookies() {
		fmt.Fprintf(w, "set-cookie:       %s\n", c)
	}
	for _, h := range d.ResponseHeaders {
		fmt.Fprintf(w, "response header:  %s: %s\n", h.Name, h.Value)
	}
	if d.Body != "" && !d.Allow {
		fmt.Fprintf(w, "body:             %s\n", strings.TrimSpace(d.Body))
	}
	for _, n := range r.Effects {
		fmt.Fprintf(w, "store:            %s\n", n)
	}
}
