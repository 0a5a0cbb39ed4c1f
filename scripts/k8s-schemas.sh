#!/usr/bin/env bash
# Regenerates deploy/k8s/schemas/*.json, the strict JSON schemas kubeconform
# validates the rendered manifests with (it cannot download its default
# ones here). Sources come through the Go module proxy:
#   - core kinds: the Kubernetes 1.27 OpenAPI document shipped as test data
#     in k8s.io/kube-openapi;
#   - Deployment: the apps/v1 OpenAPI v3 document shipped as test data in
#     k8s.io/kubectl (newer than 1.27: it has the preStop sleep action);
#   - prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs;
#   - for deploy/istio: Istio's CRDs (istio.io/api, kubernetes/customresourcedefinitions.gen.yaml);
#   - for deploy/envoy-gateway: Envoy Gateway's CRDs (its Helm chart's
#     generated templates, the Helm conditionals stripped) and Gateway API's;
#   - for deploy/traefik/kubernetes: Traefik's CRDs (traefik.io/v1alpha1, the
#     definitions its reference documentation ships), of the release
#     scripts/tool.sh builds for the end-to-end suite.
# See deploy/k8s/schemas/gen.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
openapi=k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad
kubectl=k8s.io/kubectl@v0.37.0
promop=github.com/prometheus-operator/prometheus-operator@v0.85.0
istio=istio.io/api@v1.32.0
eg=github.com/envoyproxy/gateway@v1.9.1
gwapi=sigs.k8s.io/gateway-api@v1.7.0
traefik=github.com/traefik/traefik/v3@v3.6.12
dir_of() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
swagger="$(dir_of "$openapi")/pkg/schemaconv/testdata/swagger.json"
apps="$(dir_of "$kubectl")/testdata/openapi/v3/apis/apps/v1.json"
crds="$(dir_of "$promop")/example/prometheus-operator-crd"
egdir="$(dir_of "$eg")/charts/gateway-crds-helm/templates/generated"
gwdir="$(dir_of "$gwapi")/config/crd/standard"
traefikcrds="$(dir_of "$traefik")/docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in securitypolicies clienttrafficpolicies envoyproxies; do
  grep -v '^{{' "$egdir/gateway.envoyproxy.io_$f.yaml" > "$tmp/eg_$f.yaml"
done
out=deploy/k8s/schemas
rm -f "$out"/*.json
go run ./deploy/k8s/schemas/gen -out "$out" -swagger "$swagger" \
  -crd "$crds/monitoring.coreos.com_servicemonitors.yaml" \
  -crd "$crds/monitoring.coreos.com_podmonitors.yaml" \
  -crd "$crds/monitoring.coreos.com_prometheusrules.yaml" \
  -crd "$(dir_of "$istio")/kubernetes/customresourcedefinitions.gen.yaml" \
  -crd "$tmp/eg_securitypolicies.yaml" -crd "$tmp/eg_clienttrafficpolicies.yaml" -crd "$tmp/eg_envoyproxies.yaml" \
  -crd "$gwdir/gateway.networking.k8s.io_gatewayclasses.yaml" -crd "$gwdir/gateway.networking.k8s.io_gateways.yaml" \
  -crd "$gwdir/gateway.networking.k8s.io_httproutes.yaml" -crd "$gwdir/gateway.networking.k8s.io_referencegrants.yaml" \
  -crd "$traefikcrds" \
  -crd-kinds ServiceMonitor,PodMonitor,PrometheusRule,AuthorizationPolicy,EnvoyFilter,TrafficExtension,PeerAuthentication,SecurityPolicy,ClientTrafficPolicy,EnvoyProxy,GatewayClass,Gateway,HTTPRoute,ReferenceGrant,Middleware,IngressRoute \
  -kinds io.k8s.api.core.v1.Service,io.k8s.api.core.v1.ConfigMap,io.k8s.api.core.v1.Secret,io.k8s.api.core.v1.ServiceAccount,io.k8s.api.policy.v1.PodDisruptionBudget,io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler,io.k8s.api.networking.v1.NetworkPolicy,io.k8s.api.batch.v1.Job \
  -openapi3 "$apps" -kinds3 io.k8s.api.apps.v1.Deployment
