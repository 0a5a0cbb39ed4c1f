package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/extauthz/extauthz/internal/server"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/tracing"
)

var serveSpec = cmdSpec{
	name:    "serve",
	usage:   "[--config FILE] [flags]",
	summary: "Run the service: gRPC ext_authz (grpc_addr), the HTTP check (check_addr), health and metrics (http_addr).\nEvery flag is a configuration key; it can also be set in the config file or as EXTAUTHZ_<KEY>\n(flags win over the environment, which wins over the file).",
	all:     true,
}

// loadConfig parses a command's flags (extra registers the command's
// own), environment and config file. --help prints spec's help to stdout
// and returns flag.ErrHelp; a flag package flag cannot parse is a short
// usage error.
func loadConfig(spec cmdSpec, args []string, getenv func(string) string, stdout io.Writer, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet("extauthz "+spec.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if extra != nil {
		extra(fs)
	}
	var own []string
	fs.VisitAll(func(f *flag.Flag) { own = append(own, f.Name) })
	cfg, err := config.Parse(fs, args, getenv)
	var fe *config.FlagError
	switch {
	case errors.Is(err, flag.ErrHelp):
		spec.help(stdout, fs, own)
		return cfg, err
	case errors.As(err, &fe):
		return cfg, spec.flagError(fs, fe)
	case err != nil:
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// serve runs the service until ctx ends (internal/server wires and drains it).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(serveSpec, args, getenv, stdout, nil)
	if cfg.CheckConfig {
		if err != nil {
			return err
		}
		// Tracing is configured by OTEL_* only; serve would refuse the same.
		if _, err := tracing.FromEnv(getenv); err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		fmt.Fprintln(stdout, "configuration ok")
		return nil
	}
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg, server.Options{Output: stderr, Version: version})
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Run(ctx)
}
