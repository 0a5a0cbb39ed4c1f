// Command extauthz is an external authorizer for Envoy (gRPC ext_authz) and
// nginx / Traefik / Caddy (HTTP check) that binds each browser session to
// the identity asserted by the single-sign-on proxy. See the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var exit *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &exit):
		if exit.err != nil {
			fmt.Fprintln(os.Stderr, "extauthz:", exit.err)
		}
		os.Exit(exit.code)
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "extauthz:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "extauthz:", err)
		os.Exit(1)
	}
}
