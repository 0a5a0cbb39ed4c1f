// Package istio_test validates what kubeconform cannot in deploy/istio:
// the mesh configuration (istiod-values.yaml's meshConfig) against Istio's
// own MeshConfig message, and the Envoy filter the EnvoyFilter inserts
// against Envoy's own protobuf rules. The Kubernetes objects themselves
// are validated by make deploy-check with kubeconform, against schemas
// generated from Istio's CRDs.
package istio_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
)

func yamlJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMeshConfigProviders(t *testing.T) {
	b, err := os.ReadFile("istiod-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		MeshConfig map[string]any `yaml:"meshConfig"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var mc meshv1alpha1.MeshConfig
	if err := (protojson.UnmarshalOptions{}).Unmarshal(yamlJSON(t, values.MeshConfig), &mc); err != nil {
		t.Fatalf("meshConfig is not a valid istio.mesh.v1alpha1.MeshConfig: %v", err)
	}
	providers := map[string]*meshv1alpha1.MeshConfig_ExtensionProvider{}
	for _, p := range mc.GetExtensionProviders() {
		providers[p.GetName()] = p
	}
	grpc := providers["extauthz"].GetEnvoyExtAuthzGrpc()
	if grpc == nil || grpc.GetService() != "extauthz.extauthz.svc.cluster.local" || grpc.GetPort() != 9191 {
		t.Errorf("provider extauthz: want envoyExtAuthzGrpc on the chart's headless Service :9191, got %v", providers["extauthz"])
	}
	if grpc.GetFailOpen() || grpc.GetTimeout().AsDuration().Seconds() != 0.25 || grpc.GetStatusOnError() != "503" {
		t.Errorf("provider extauthz: want fail closed, 250ms, 503 on error; got %v", grpc)
	}
	http := providers["oauth2-proxy"].GetEnvoyExtAuthzHttp()
	if http == nil || http.GetPathPrefix() != "" {
		t.Fatalf("provider oauth2-proxy: want envoyExtAuthzHttp asked the original path, got %v", providers["oauth2-proxy"])
	}
	if !strings.Contains(strings.Join(http.GetHeadersToUpstreamOnAllow(), ","), "x-auth-request-email") {
		t.Errorf("oauth2-proxy does not pass x-auth-request-email upstream")
	}
}

// The EnvoyFilter's patch value is an HttpFilter: parsed strictly, then
// validated, the filter inside its Any too.
func TestEnvoyFilterPatchIsAValidHTTPFilter(t *testing.T) {
	b, err := os.ReadFile("envoyfilter-strip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ef struct {
		Spec struct {
			ConfigPatches []struct {
				ApplyTo string `yaml:"applyTo"`
				Match   struct {
					Listener struct {
						FilterChain struct {
							Filter struct {
								SubFilter struct {
									Name string `yaml:"name"`
								} `yaml:"subFilter"`
							} `yaml:"filter"`
						} `yaml:"filterChain"`
					} `yaml:"listener"`
				} `yaml:"match"`
				Patch struct {
					Operation string         `yaml:"operation"`
					Value     map[string]any `yaml:"value"`
				} `yaml:"patch"`
			} `yaml:"configPatches"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &ef); err != nil {
		t.Fatal(err)
	}
	if len(ef.Spec.ConfigPatches) != 1 {
		t.Fatalf("want one patch, got %d", len(ef.Spec.ConfigPatches))
	}
	p := ef.Spec.ConfigPatches[0]
	if p.ApplyTo != "HTTP_FILTER" || p.Patch.Operation != "INSERT_BEFORE" ||
		p.Match.Listener.FilterChain.Filter.SubFilter.Name != "envoy.filters.http.ext_authz" {
		t.Errorf("the strip must be inserted before ext_authz: %+v", p)
	}
	var f hcmv3.HttpFilter
	if err := (protojson.UnmarshalOptions{}).Unmarshal(yamlJSON(t, p.Patch.Value), &f); err != nil {
		t.Fatalf("patch value: %v", err)
	}
	if err := f.ValidateAll(); err != nil {
		t.Fatalf("patch value: %v", err)
	}
	inner, err := f.GetTypedConfig().UnmarshalNew()
	if err != nil {
		t.Fatalf("typed_config: %v", err)
	}
	if err := inner.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
		t.Fatalf("typed_config: %v", err)
	}
}
