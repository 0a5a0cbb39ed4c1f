// Package envoygateway_test checks what kubeconform cannot in
// deploy/envoy-gateway: that extauthz's config beside the routes passes
// extauthz's own validation, and that each route's hostnames select the
// app its SecurityPolicy names (so the example keeps working on an Envoy
// Gateway without extAuth.contextExtensions).
package envoygateway_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/deploy/internal/valuestest"
)

func TestRouteHostsSelectTheNamedApp(t *testing.T) {
	eng := valuestest.EngineOf(t, "extauthz-values.yaml")
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
