package istio_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/deploy/internal/valuestest"
	"github.com/extauthz/extauthz/pkg/authz"
)

// TestEveryGatewayHostSelectsAnApp: Istio's CUSTOM provider sends no
// context_extensions, so each host the gateway serves must select its app
// through extauthz's hosts: extauthz-values.yaml's config passes
// extauthz's own validation, and no gateway host falls to `default`.
func TestEveryGatewayHostSelectsAnApp(t *testing.T) {
	eng := valuestest.EngineOf(t, "extauthz-values.yaml")
	hosts := gatewayHosts(t, "gateway.yaml")
	if len(hosts) == 0 {
		t.Fatal("gateway.yaml: no hosts found in the oauth2-proxy AuthorizationPolicy")
	}
	for _, h := range hosts {
		if app := eng.AppFor("", h); app == authz.DefaultApp {
			t.Errorf("host %s selects no app: add it to an app's hosts in extauthz-values.yaml", h)
		}
	}
}

// gatewayHosts are the hosts the oauth2-proxy AuthorizationPolicy covers.
func gatewayHosts(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Rules []struct {
					To []struct {
						Operation struct {
							Hosts []string `yaml:"hosts"`
						} `yaml:"operation"`
					} `yaml:"to"`
				} `yaml:"rules"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return hosts
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "AuthorizationPolicy" {
			continue
		}
		for _, r := range doc.Spec.Rules {
			for _, to := range r.To {
				hosts = append(hosts, to.Operation.Hosts...)
			}
		}
	}
}
