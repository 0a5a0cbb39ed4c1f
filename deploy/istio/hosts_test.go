package istio_test

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

// TestEveryGatewayHostSelectsAnApp: Istio's CUSTOM provider sends no
// context_extensions, so each host the gateway serves must select its app
// through extauthz's hosts: extauthz-values.yaml's config passes
// extauthz's own validation, and no gateway host falls to `default`.
func TestEveryGatewayHostSelectsAnApp(t *testing.T) {
	eng := engineOf(t, "extauthz-values.yaml")
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
