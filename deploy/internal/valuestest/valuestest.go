// Package valuestest reads the extauthz configuration that a Helm values
// file beside a deploy example carries, for the examples' tests.
package valuestest

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/oidc"
)

// EngineOf validates the config of a chart values file with extauthz's own
// rules and returns an engine over its apps. An app on identity_jwt gets
// the service's own token verifier (its keys are fetched on first use, so
// never here).
func EngineOf(t *testing.T, valuesFile string) *authz.Engine {
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
		app := authz.App{Policy: p, Profiles: authztest.NewProfiles()}
		if tp := p.IdentityJWT; tp.On() {
			keys := oidc.NewKeySet(oidc.KeySetConfig{Issuer: tp.Issuer, JWKSURL: tp.JWKSURL})
			app.Identity = oidc.Identity{Verifier: oidc.NewVerifier(oidc.VerifierConfig{Keys: keys, Issuer: tp.Issuer,
				Audiences: tp.Audiences, EmailClaim: tp.EmailClaim, Leeway: tp.Leeway})}
		}
		apps = append(apps, app)
	}
	eng, err := authz.New(authz.Config{Apps: apps, Sessions: authztest.NewSessions()})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}
