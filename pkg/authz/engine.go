package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// DefaultApp is the policy used when a request names no app and no app
// lists its host (see AppFor).
const DefaultApp = "default"

// App is one protected upstream: its policy and where its profiles come from.
type App struct {
	Policy   Policy
	Profiles ProfileSource
	// Identity verifies the app's identity tokens (Policy.IdentityJWT);
	// required when that is on.
	Identity IdentityVerifier
}

// Config wires an Engine.
type Config struct {
	Apps     []App
	Sessions SessionStore
	// Tokens resolves extauthz-issued access tokens; nil disables rows 1–2
	// for credentials in validate mode (they are then invalid).
	Tokens AccessTokenStore
	// Revoker revokes every session of a profile (logout_path); nil
	// revokes only the session the browser presents.
	Revoker ProfileRevoker
	// Hops is the loop guard's per-replica memory (see HopLedger); nil
	// uses a new one.
	Hops *HopLedger
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// NewToken mints session tokens; nil uses cookie.NewToken.
	NewToken func() (cookie.Token, error)
	// LookupTimeout bounds all store work of one decision. Keep it below the
	// front end's timeout (Envoy's ext_authz default is 200 ms) so that the
	// service answers 503 itself. Default 150 ms.
	LookupTimeout time.Duration
}

// check returns what an app lacks.
func (a *App) check() []error {
	name := a.Policy.App
	var errs []error
	if a.Policy.IdentityJWT.On() && a.Identity == nil {
		errs = append(errs, fmt.Errorf("authz: app %q: identity_jwt needs a verifier", name))
	}
	if a.Profiles == nil {
		errs = append(errs, fmt.Errorf("authz: app %q has no profile source", name))
	}
	if a.Policy.Cookie.Name == "" || a.Policy.ProfileHeader == "" || a.Policy.EmailHeader == "" {
		errs = append(errs, fmt.Errorf("authz: app %q: cookie name, profile header and email header are required", name))
	}
	return errs
}

// Engine decides requests. It is safe for concurrent use.
type Engine struct {
	apps          map[string]*App
	hosts         hostTable
	sessions      SessionStore
	tokens        AccessTokenStore
	revoker       ProfileRevoker
	hops          *HopLedger
	now           func() time.Time
	newToken      func() (cookie.Token, error)
	lookupTimeout time.Duration
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	e := &Engine{
		apps:          make(map[string]*App, len(cfg.Apps)),
		sessions:      cfg.Sessions,
		tokens:        cfg.Tokens,
		revoker:       cfg.Revoker,
		hops:          cfg.Hops,
		now:           cfg.Now,
		newToken:      cfg.NewToken,
		lookupTimeout: cfg.LookupTimeout,
	}
	var errs []error
	if e.sessions == nil {
		errs = append(errs, errors.New("authz: no session store"))
	}
	for i := range cfg.Apps {
		a := cfg.Apps[i]
		name := a.Policy.App
		if name == "" {
			errs = append(errs, fmt.Errorf("authz: app #%d has no name", i))
			continue
		}
		if _, dup := e.apps[name]; dup {
			errs = append(errs, fmt.Errorf("authz: app %q defined twice", name))
		}
		errs = append(errs, a.check()...)
		e.apps[name] = &a
	}
	var hostErrs []error
	e.hosts, hostErrs = newHostTable(cfg.Apps)
	errs = append(errs, hostErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if e.hops == nil {
		e.hops = NewHopLedger(0)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.newToken == nil {
		e.newToken = cookie.NewToken
	}
	if e.lookupTimeout <= 0 {
		e.lookupTimeout = 150 * time.Millisecond
	}
	return e, nil
}

// Policy returns the policy of app (DefaultApp for ""), for front ends that
// need its static parts (names of owned headers, the cookie name).
func (e *Engine) Policy(app string) (Policy, bool) {
	if app == "" {
		app = DefaultApp
	}
	a, ok := e.apps[app]
	if !ok {
		return Policy{}, false
	}
	return a.Policy, true
}

// HeaderNames returns every request header (lower-case) that a decision of
// any app may read, so that a front end can skip copying the others.
func (e *Engine) HeaderNames() map[string]bool {
	names := map[string]bool{
		"cookie": true, "accept": true, "upgrade": true, "sec-fetch-mode": true, "x-request-id": true,
	}
	for _, a := range e.apps {
		p := &a.Policy
		for _, h := range []string{p.EmailHeader, p.UserHeader, p.NameHeader} {
			if h != "" {
				names[h] = true
			}
		}
		if p.IdentityJWT.On() {
			names[p.IdentityJWT.Header] = true
		}
		for _, c := range p.Credentials {
			names[c.Header] = true
		}
	}
	return names
}

// Apps returns the names of the configured apps.
func (e *Engine) Apps() []string {
	names := make([]string, 0, len(e.apps))
	for n := range e.apps {
		names = append(names, n)
	}
	return names
}

// DefaultReasonHeader carries the reason code unless an app names another.
const DefaultReasonHeader = "x-extauthz-reason"

// Denial builds a deny decision without an engine, shaped like the
// engine's (cache-control, JSON body, content-type, Retry-After on a 503,
// the reason in reasonHeader when non-empty). Front ends use it when a decision cannot be
// rendered at all and they must fail closed on their own.
func Denial(app string, status int, reason Reason, reasonHeader string) Decision {
	if app == "" {
		app = DefaultApp
	}
	p := Policy{App: app, ReasonHeader: reasonHeader, RetryAfter: 2 * time.Second}
	t := turn{p: &p, in: &Input{}}
	v := denied(status, reason)
	v.retryAfter = status == StatusServiceUnavailable // a bare status is all a front end gives
	return t.render(v)
}

// Decide runs the decision table (see doc.go) for one request, for the app
// AppFor selects (a named app that is not configured is a 503
// misconfigured: the route was meant for an app this service lacks). It never
// panics on bad input and never returns an error: every failure is a Decision
// with a reason.
func (e *Engine) Decide(ctx context.Context, in Input) Decision {
	name := e.AppFor(in.App, in.Host)
	app, ok := e.apps[name]
	if !ok {
		// A route naming an app we do not know is a configuration error;
		// fail closed rather than guess a policy.
		return Denial(name, StatusServiceUnavailable, ReasonMisconfigured, DefaultReasonHeader)
	}
	bud := newBudget(ctx, e.lookupTimeout, time.Now)
	defer bud.release()
	ctx = bud
	t := turn{e: e, app: app, p: &app.Policy, in: &in, now: e.now()}
	return t.decide(ctx)
}
