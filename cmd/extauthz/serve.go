package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/extauthz/extauthz/internal/server"
	"github.com/extauthz/extauthz/pkg/config"
)

// loadConfig parses a command's flags, environment and config file.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet("extauthz "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Parse(fs, args, getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// serve runs the service until ctx ends (internal/server wires and drains it).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, getenv, stderr, nil)
	if cfg.CheckConfig {
		if err != nil {
			return err
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
