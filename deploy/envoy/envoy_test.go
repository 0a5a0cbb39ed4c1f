// Package envoyconfig_test validates every Envoy bootstrap in deploy/envoy
// against Envoy's own protobuf rules: strict protojson parsing (unknown
// fields and unknown @types fail), then ValidateAll on the bootstrap and on
// the message inside every Any, recursively — the outer ValidateAll does not
// descend into typed_config.
package envoyconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	// Every extension the configs use, so their Anys can be unpacked.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// yamlToJSON converts a YAML document (anchors resolved) to JSON.
func yamlToJSON(src []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ ValidateAll() error }

// validate parses a bootstrap strictly and validates it and everything
// packed inside it.
func validate(src []byte) error {
	js, err := yamlToJSON(src)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return fmt.Errorf("protojson: %w", err)
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return validateAnys(b.ProtoReflect(), "")
}

// validateAnys walks m; every Any is unpacked, validated and walked in turn.
func validateAnys(m protoreflect.Message, path string) error {
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				errs = append(errs, visit(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i)))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				errs = append(errs, visit(mv.Message(), fmt.Sprintf("%s[%s]", p, k.String())))
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			errs = append(errs, visit(v.Message(), p))
		}
		return true
	})
	return errors.Join(errs...)
}

func visit(m protoreflect.Message, path string) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return validateAnys(m, path)
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("%s: %s: %w", path, a.GetTypeUrl(), err)
	}
	if v, ok := inner.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s (%s): %w", path, a.GetTypeUrl(), err)
		}
	} else {
		return fmt.Errorf("%s: %s has no ValidateAll", path, a.GetTypeUrl())
	}
	return validateAnys(inner.ProtoReflect(), path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")
}

func configs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("*.yml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no Envoy configs in deploy/envoy")
	}
	return files
}

func TestEveryConfigValidates(t *testing.T) {
	for _, f := range configs(t) {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(src); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The settings the service's behaviour depends on are really there, not only
// valid: a config can be valid and still fail open.
func TestExtauthzFilterSettings(t *testing.T) {
	src, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	hcm := dig(doc, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config").(map[string]any)
	filters := hcm["http_filters"].([]any)
	var names []string
	for _, f := range filters {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	if want := "strip_identity_headers,oauth2_proxy,extauthz,envoy.filters.http.router"; strings.Join(names, ",") != want {
		t.Errorf("http_filters = %v, want %s (strip before both auth filters, router last)", names, want)
	}
	ext := dig(filters[2], "typed_config").(map[string]any)
	if ext["failure_mode_allow"] != false || dig(ext, "status_on_error", "code") != 503 || ext["encode_raw_headers"] != true || ext["transport_api_version"] != "V3" {
		t.Errorf("extauthz filter: %v", ext)
	}
	if got := dig(ext, "grpc_service", "timeout"); got != "0.25s" {
		t.Errorf("extauthz timeout = %v, want 0.25s (above the 150ms lookup deadline)", got)
	}
	// Every per-route key names a filter that exists.
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	apps := map[string]bool{}
	for _, vh := range dig(hcm, "route_config", "virtual_hosts").([]any) {
		for _, r := range vh.(map[string]any)["routes"].([]any) {
			pf, _ := r.(map[string]any)["typed_per_filter_config"].(map[string]any)
			for k := range pf {
				if !known[k] {
					t.Errorf("typed_per_filter_config key %q names no filter", k)
				}
			}
			if app, ok := dig(pf, "extauthz", "check_settings", "context_extensions", "app").(string); ok {
				apps[app] = true
			}
		}
	}
	if !apps["plane"] || !apps["wiki"] {
		t.Errorf("context_extensions apps = %v, want plane and wiki", apps)
	}
}

// dig follows map keys and list indexes; nil when absent.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// The validator must reject what Envoy would reject. Each case breaks the
// good file in one place.
func TestValidatorRejectsBrokenConfigs(t *testing.T) {
	good, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(good); err != nil {
		t.Fatalf("the good file fails: %v", err)
	}
	cases := []struct {
		name, old, new, want string
	}{
		// Only caught by unpacking typed_config: the outer ValidateAll does
		// not descend into Anys.
		{"empty stat_prefix inside HCM", "stat_prefix: ingress", `stat_prefix: ""`, "StatPrefix"},
		{"unknown field in a filter", "encode_raw_headers: true", "encode_raw_headers: true\n                      encode_raw_header: true", "encode_raw_header"},
		{"unknown field in the bootstrap", "static_resources:", "static_resourcez: {}\nstatic_resources:", "static_resourcez"},
		{"unknown @type", "envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr", "Routr"},
		{"status_on_error not an HTTP status", "status_on_error: {code: 503}", "status_on_error: {code: 42}", "Code"},
		{"zero connect_timeout", "connect_timeout: 0.25s", "connect_timeout: 0s", "ConnectTimeout"},
		{"empty route prefix matcher", "key_matcher: {prefix: x-extauthz-}", "key_matcher: {}", "MatchPattern"},
		{"cluster without a name", "- name: wiki\n      type: STRICT_DNS", "- name: \"\"\n      type: STRICT_DNS", "Name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(good), c.old) {
				t.Fatalf("the good file has no %q to break", c.old)
			}
			bad := strings.Replace(string(good), c.old, c.new, 1)
			err := validate([]byte(bad))
			if err == nil {
				t.Fatal("validated")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// Unpacking needs every extension registered: a type the test binary does
// not know must fail, not pass silently.
func TestUnregisteredTypeFails(t *testing.T) {
	a := &anypb.Any{TypeUrl: "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"}
	if _, err := protoregistry.GlobalTypes.FindMessageByURL(a.TypeUrl); err == nil {
		t.Skip("lua registered by some import; nothing to prove")
	}
	if err := visit(a.ProtoReflect(), "x"); err == nil {
		t.Error("an unregistered @type passed")
	}
}
