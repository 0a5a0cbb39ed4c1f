package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/extauthz/extauthz/internal/server"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/explain"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

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
	srv, err := server.New(ctx, cfg, server.Options{Version: version})
	if err != nil {
		return err
	}
	defer srv.Close()

	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("%w: --header %q: want 'name: value'", errUsage, h)
		}
		req.Headers = append(req.Headers, authz.Header{Name: name, Value: value})
	}
	req.Cookies = cookies
	res, err := srv.Explainer().Explain(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	explain.Print(stdout, res)
	return nil
}
