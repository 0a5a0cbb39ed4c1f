package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// dryRunSessions reads from the real store and only records writes, so that
// `extauthz check` explains a decision without changing anything.
type dryRunSessions struct {
	authz.SessionStore
	notes *[]string
}

func (d dryRunSessions) ReplaceSession(_ context.Context, old cookie.Hash, next authz.Session) error {
	if !old.IsZero() {
		*d.notes = append(*d.notes, "would delete session "+old.String()[:16])
	}
	*d.notes = append(*d.notes, fmt.Sprintf("would create session %s for profile %s (expires %s)",
		next.Hash.String()[:16], next.ProfileID, next.ExpiresAt.Format(time.RFC3339)))
	return nil
}

func (d dryRunSessions) DeleteSession(_ context.Context, h cookie.Hash) error {
	*d.notes = append(*d.notes, "would delete session "+h.String()[:16])
	return nil
}

func (d dryRunSessions) RenewSession(_ context.Context, h cookie.Hash, _, expires time.Time) error {
	*d.notes = append(*d.notes, fmt.Sprintf("would renew session %s until %s", h.String()[:16], expires.Format(time.RFC3339)))
	return nil
}

// dryRunProfiles never registers.
type dryRunProfiles struct {
	authz.ProfileSource
	notes *[]string
}

func (d dryRunProfiles) RegisterProfile(ctx context.Context, email, name string) (authz.Profile, error) {
	if p, err := d.LookupProfile(ctx, email); err == nil {
		return p, nil
	}
	*d.notes = append(*d.notes, "would register a profile for the asserted email")
	return authz.Profile{ID: "(new profile)", Email: email, Name: name, Active: true}, nil
}

// checkCmd explains the decision for a request described on the command
// line, against the configured stores, without writing to them.
func checkCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		app, method, path, host string
		headers, cookies        multiFlag
	)
	cfg, err := loadConfig("check", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&app, "app", "", "the app (Envoy context_extensions[\"app\"]); default app when empty")
		fs.StringVar(&method, "method", "GET", "request method")
		fs.StringVar(&path, "path", "/", "request path (raw, with query)")
		fs.StringVar(&host, "host", "app.example.com", "request host")
		fs.Var(&headers, "header", "request header 'name: value' (repeatable)")
		fs.Var(&cookies, "cookie", "cookie 'name=value' (repeatable)")
	})
	if err != nil {
		return err
	}
	cfg.Migrate = false
	log := newLogger(cfg.Log, io.Discard)
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.stores.Close()

	var notes []string
	apps := make([]authz.App, 0)
	for _, p := range cfg.Policies() {
		src, err := svc.profileSource(ctx, p.App)
		if err != nil {
			return err
		}
		apps = append(apps, authz.App{Policy: p, Profiles: dryRunProfiles{ProfileSource: src, notes: &notes}})
	}
	eng, err := authz.New(authz.Config{
		Apps:          apps,
		Sessions:      dryRunSessions{SessionStore: svc.stores.sessions, notes: &notes},
		Tokens:        svc.stores.tokens,
		LookupTimeout: 5 * time.Second,
	})
	if err != nil {
		return err
	}

	in := authz.Input{App: app, Method: method, Scheme: "https", Host: host, Path: path, Headers: authz.Headers{}}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("%w: --header %q: want 'name: value'", errUsage, h)
		}
		in.Headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if len(cookies) > 0 {
		in.Headers.Add("cookie", strings.Join(cookies, "; "))
	}
	for _, c := range in.Headers.Get("cookie") {
		in.Cookies = append(in.Cookies, cookie.Parse(c)...)
	}
	d := eng.Decide(ctx, in)
	printDecision(stdout, d, notes)
	return nil
}

// printDecision writes a decision the way an operator reads it.
func printDecision(w io.Writer, d authz.Decision, notes []string) {
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
	for _, c := range d.SetCookies {
		fmt.Fprintf(w, "set-cookie:       %s\n", redactCookie(c))
	}
	for _, h := range d.ResponseHeaders {
		fmt.Fprintf(w, "response header:  %s: %s\n", h.Name, h.Value)
	}
	if d.Body != "" && !d.Allow {
		fmt.Fprintf(w, "body:             %s\n", strings.TrimSpace(d.Body))
	}
	for _, n := range notes {
		fmt.Fprintf(w, "store:            %s\n", n)
	}
}

// redactCookie hides a Set-Cookie value: a session token on the terminal is
// still a secret.
func redactCookie(c string) string {
	nv, attrs, _ := strings.Cut(c, ";")
	name, value, _ := strings.Cut(nv, "=")
	if value != "" {
		value = "<new token>"
	}
	return name + "=" + value + ";" + attrs
}
