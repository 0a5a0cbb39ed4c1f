package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errUsage reports a command line that cannot run (exit status 2); see
// usageError.
var errUsage = errors.New("usage")

const usage = `extauthz — bind browser sessions to the identity your SSO proxy asserts.

Usage:
  extauthz serve    [--config FILE] [--grpc-addr :9191] [--http-addr :9090] [--check-addr HOST:PORT] [--database-url URL] [--migrate] [--check-config]
  extauthz migrate  --database-url URL
  extauthz profile  add|block|unblock|activate|deactivate|delete|list  --database-url URL [--email E] [--name N] [--inactive] [--blocked]
  extauthz session  list|revoke  --database-url URL (--email E | --profile ID)
  extauthz token    create|revoke|list  --database-url URL (--email E [--name N] [--expires 30d] | --token T)
  extauthz check    [--config FILE] [--app A] [--host H] [--header 'k: v']... [--cookie 'c=v']... [--method GET] [--path /] [--exit-code] [--output text|json]
  extauthz version

Run 'extauthz COMMAND --help' for a command's flags. Every configuration key
is also a flag of serve and an EXTAUTHZ_<KEY> environment variable (flags win
over the environment, which wins over the config file).
`

// run dispatches a command line. It is main without the process: tests call
// it with their own arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, rest, getenv, stdout, stderr)
	case "profile":
		return profileCmd(ctx, rest, getenv, stdout, stderr)
	case "session":
		return sessionCmd(ctx, rest, getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, rest, getenv, stdout, stderr)
	case "check":
		return checkCmd(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "extauthz %s\n", version)
		return nil
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && rest[0] != "help" { // extauthz help profile
			return run(ctx, append(rest[:1:1], "--help"), getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q; commands: serve, migrate, profile, session, token, check, version", cmd)
}
