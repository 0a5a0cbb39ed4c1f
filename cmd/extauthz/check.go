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

var checkSpec = cmdSpec{
	name:  "check",
	usage: "[--config FILE] [--app A] [--host H] [--method GET] [--path /] [--header 'name: value']... [--cookie 'name=value']... [--exit-code] [--output text|json]",
	summary: "Explain the decision for the request described, against the configured stores, without writing to them.\n" +
		"With --exit-code the exit status is the decision: 0 allow, 1 deny, 2 the command could not decide\n" +
		"(usage, configuration or store error).",
	shared: []string{"config", "database-url"},
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// checkFlags are the flags of `extauthz check`.
type checkFlags struct {
	req              explain.Request
	headers, cookies multiFlag
	exitCode         bool
	output           string
}

func (f *checkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.req.App, "app", "", "the `app` (Envoy context_extensions[\"app\"]); when empty, the app whose hosts match --host, else default")
	fs.StringVar(&f.req.Method, "method", "GET", "request `method`")
	fs.StringVar(&f.req.Path, "path", "/", "request `path` (raw, with query)")
	fs.StringVar(&f.req.Host, "host", "app.example.com", "request `host` (:authority)")
	fs.Var(&f.headers, "header", "request header `'name: value'` (repeatable)")
	fs.Var(&f.cookies, "cookie", "cookie `'name=value'` (repeatable)")
	fs.BoolVar(&f.exitCode, "exit-code", false, "exit 1 on a deny (0 allow, 2 could not decide), for scripts and CI")
	fs.StringVar(&f.output, "output", "text", "output `format`: text or json")
}

// checkCmd explains the decision for a request described on the command
// line, against the configured stores, without writing to them.
func checkCmd(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	var f checkFlags
	allow, err := explainCheck(ctx, &f, args, getenv, stdout)
	switch {
	case err != nil && f.exitCode && !isHelp(err):
		return &exitError{code: 2, err: err}
	case err != nil:
		return err
	case f.exitCode && !allow:
		return &exitError{code: 1}
	}
	return nil
}

// explainCheck runs the explanation and prints it; it reports whether the
// decision allows.
func explainCheck(ctx context.Context, f *checkFlags, args []string, getenv func(string) string, stdout io.Writer) (bool, error) {
	cfg, err := loadConfig(checkSpec, args, getenv, stdout, f.register)
	if err != nil {
		return false, err
	}
	if f.output != "text" && f.output != "json" {
		return false, &usageError{cmd: "check", msg: fmt.Sprintf("--output: want text or json, got %q", f.output)}
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return false, &usageError{cmd: "check", msg: fmt.Sprintf("--header %q: want 'name: value'", h)}
		}
		f.req.Headers = append(f.req.Headers, authz.Header{Name: name, Value: value})
	}
	f.req.Cookies = f.cookies
	cfg.Migrate = false
	srv, err := server.New(ctx, cfg, server.Options{Version: version})
	if err != nil {
		return false, err
	}
	defer srv.Close()
	res, err := srv.Explainer().Explain(ctx, f.req)
	if err != nil {
		return false, &usageError{cmd: "check", msg: err.Error()}
	}
	if f.output == "json" {
		return res.Allow, explain.PrintJSON(stdout, res)
	}
	explain.Print(stdout, res)
	return res.Allow, nil
}
