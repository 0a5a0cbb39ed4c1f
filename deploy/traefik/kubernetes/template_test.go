package traefikkubernetes_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

// TestMiddlewaresAreTheTestedOnes: the Middleware specs of
// middlewares.yaml are deploy/traefik/dynamic.yaml.tmpl's middlewares (the
// file the end-to-end suite runs against a real Traefik), rendered for the
// same app with identity_jwt, field by field; only the addresses differ
// (cluster DNS names here).
func TestMiddlewaresAreTheTestedOnes(t *testing.T) {
	const (
		oauth2Proxy = "oauth2-proxy.plane.svc.cluster.local:4180"
		extauthz    = "extauthz.extauthz.svc.cluster.local:9092"
		app         = "plane"
	)
	tmpl, err := template.ParseFiles(filepath.Join("..", "dynamic.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, struct {
		Host, OAuth2Proxy, Extauthz, App, AppName string
		TLS, WithExtauthz, IdentityJWT            bool
	}{"plane.example.com", oauth2Proxy, extauthz, "plane:80", app, true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		HTTP struct {
			Middlewares map[string]any `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(b.Bytes(), &file); err != nil {
		t.Fatalf("rendered dynamic.yaml.tmpl: %v", err)
	}
	crds := crdMiddlewares(t, "middlewares.yaml")
	for _, name := range []string{"strip-spoofable", "oauth2-proxy", "extauthz-" + app} {
		want, ok := file.HTTP.Middlewares[name]
		if !ok {
			t.Fatalf("dynamic.yaml.tmpl has no middleware %s", name)
		}
		got, ok := crds[name]
		if !ok {
			t.Errorf("middlewares.yaml has no Middleware %s", name)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Middleware %s:\n got  %v\n want %v (dynamic.yaml.tmpl, rendered for %s with identity_jwt)", name, got, want, app)
		}
	}
	if len(crds) != 3 {
		t.Errorf("middlewares.yaml has %d Middlewares, want the template's three", len(crds))
	}
}

// crdMiddlewares returns each Middleware's spec by name.
func crdMiddlewares(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec any `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc.Kind == "Middleware" {
			out[doc.Metadata.Name] = doc.Spec
		}
	}
}
