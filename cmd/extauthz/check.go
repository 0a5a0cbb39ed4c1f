package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/explain"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// newExplainer explains decisions over the service's own stores and
// policies, without writing to them (pkg/explain). `extauthz check` and the
// admin API's Explain both use it.
func (s *service) newExplainer(ctx context.Context) (*explain.Explainer, error) {
	apps := make([]authz.App, 0)
	for _, p := range s.cfg.Policies() {
		src, err := s.profileSource(ctx, p.App)
		if err != nil {
			return nil, err
		}
		apps = append(apps, authz.App{Policy: p, Profiles: src})
	}
	return explain.New(explain.Config{
		Apps:          apps,
		Sessions:      s.stores.sessions,
		Tokens:        s.stores.tokens,
		LookupTimeout: 5 * time.Second,
	})
}

// checkCmd explains the decision for a request described on the command
// line, against the configured stores, without writing to them.
func checkCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		req              explain.Request
		headers, cookies multiFlag
	)
	cfg, err := loadConfig("check", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&req.App, "app", "", "the app (Envoy context_extensions[\"app\"]); default app when empty")
		fs.StringVar(&req.Method, "method", "GET", "request method")
		fs.StringVar(&req.Path, "path", "/", "request path (raw, with query)")
		fs.StringVar(&req.Host, "host", "app.example.com", "request host")
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
	defer svc.Close()

	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("%w: --header %q: want 'name: value'", errUsage, h)
		}
		req.Headers = append(req.Headers, authz.Header{Name: name, Value: value})
	}
	req.Cookies = cookies
	ex, err := svc.newExplainer(ctx)
	if err != nil {
		return err
	}
	res, err := ex.Explain(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	explain.Print(stdout, res)
	return nil
}
