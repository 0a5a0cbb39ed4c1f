// Package envoygateway_test checks what kubeconform cannot in
// deploy/envoy-gateway: that extauthz's config beside the routes passes
// extauthz's own validation, and that each route's hostnames select the
// app its SecurityPolicy names (so the example keeps working on an Envoy
// Gateway without extAuth.contextExtensions).
package envoygateway_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/config"
)

func TestRouteHostsSelectTheNamedApp(t *testing.T) {
	eng := engineOf(t, "extauthz-values.yaml")
	routes, named := readRoutes(t, "routes.yaml")
	if len(named) == 0 {
		t.Fatal("routes.yaml: no SecurityPolicy names an app")
	}
	for route, app := range named {
		if len(routes[route]) == 0 {
			t.Errorf("SecurityPolicy for route %s: no such HTTPRoute with hostnames", route)
		}
		for _, h := range routes[route] {
			if got := eng.AppFor("", h); got != app {
				t.Errorf("route %s host %s selects app %q without contextExtensions, want %q", route, h, got, app)
			}
			if _, ok := eng.Policy(app); !ok {
				t.Errorf("route %s names app %q, which extauthz-values.yaml lacks (503 misconfigured)", route, app)
			}
		}
	}
}

// engineOf validates the config of a chart values file with extauthz's own
// rules and returns an engine over its apps.
func engineOf(t *testing.T, valuesFile string) *authz.Engine {
	t.Helper()
	b, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	cfgYAML, err := yaml.Marshal(values.Config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "extauthz.yaml")
	if err := os.WriteFile(path, cfgYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("extauthz", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := config.Parse(fs, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("%s: config:\n%v", valuesFile, err)
	}
	var apps []authz.App
	for _, p := range cfg.Policies() {
		apps = append(apps, authz.App{Policy: p, Profiles: authztest.NewProfiles()})
	}
	eng, err := authz.New(authz.Config{Apps: apps, Sessions: authztest.NewSessions()})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// readRoutes returns each HTTPRoute's hostnames, and the app each
// SecurityPolicy's contextExtensions name, by the route it targets.
func readRoutes(t *testing.T, file string) (map[string][]string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	routes, named := map[string][]string{}, map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Hostnames  []string `yaml:"hostnames"`
				TargetRefs []struct {
					Name string `yaml:"name"`
				} `yaml:"targetRefs"`
				ExtAuth struct {
					ContextExtensions []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"contextExtensions"`
				} `yaml:"extAuth"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return routes, named
		} else if err != nil {
			t.Fatal(err)
		}
		switch doc.Kind {
		case "HTTPRoute":
			routes[doc.Metadata.Name] = doc.Spec.Hostnames
		case "SecurityPolicy":
			for _, ce := range doc.Spec.ExtAuth.ContextExtensions {
				for _, ref := range doc.Spec.TargetRefs {
					if ce.Name == "app" {
						named[ref.Name] = ce.Value
					}
				}
			}
		}
	}
}
