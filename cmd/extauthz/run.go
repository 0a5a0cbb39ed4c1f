package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errUsage reports a command line that names no known command.
var errUsage = errors.New("usage")

const usage = `extauthz — bind browser sessions to the identity your SSO proxy asserts.

Usage:
  extauthz serve    [--config FILE] [--grpc-addr :9191] [--http-addr :9090] [--check-addr HOST:PORT] [--database-url URL] [--migrate] [--check-config]
  extauthz migrate  --database-url URL
  extauthz profile  add|block|unblock|activate|deactivate|delete|list  --database-url URL [--email E] [--name N] [--inactive] [--blocked]
  extauthz session  list|revoke  --database-url URL (--email E | --profile ID)
  extauthz token    create|revoke|list  --database-url URL (--email E [--name N] [--expires 30d] | --token T)
  extauthz check    [--config FILE] [--app A] [--header 'k: v']... [--cookie 'c=v']... [--method GET] [--path /]
  extauthz version

Every flag can also be set in the YAML config file or as EXTAUTHZ_<NAME> in the
environment (flags win over the environment, which wins over the file).
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
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "extauthz: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// sub returns the verb of a command with verbs ("profile add" → "add").
func sub(args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, fmt.Errorf("%w: want one of %s", errUsage, strings.Join(verbs, ", "))
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("%w: unknown verb %q, want one of %s", errUsage, args[0], strings.Join(verbs, ", "))
}
