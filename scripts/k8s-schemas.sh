#!/usr/bin/env bash
# Regenerates deploy/k8s/schemas/*.json, the strict JSON schemas kubeconform
# validates the rendered manifests with (it cannot download its default
# ones here). Sources come through the Go module proxy:
#   - core kinds: the Kubernetes 1.27 OpenAPI document shipped as test data
#     in k8s.io/kube-openapi;
#   - Deployment: the apps/v1 OpenAPI v3 document shipped as test data in
#     k8s.io/kubectl (newer than 1.27: it has the preStop sleep action);
#   - prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs.
# See deploy/k8s/schemas/gen.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
openapi=k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad
kubectl=k8s.io/kubectl@v0.37.0
promop=github.com/prometheus-operator/prometheus-operator@v0.85.0
dir_of() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
swagger="$(dir_of "$openapi")/pkg/schemaconv/testdata/swagger.json"
apps="$(dir_of "$kubectl")/testdata/openapi/v3/apis/apps/v1.json"
crds="$(dir_of "$promop")/example/prometheus-operator-crd"
out=deploy/k8s/schemas
rm -f "$out"/*.json
go run ./deploy/k8s/schemas/gen -out "$out" -swagger "$swagger" \
  -crd "$crds/monitoring.coreos.com_servicemonitors.yaml" \
  -crd "$crds/monitoring.coreos.com_podmonitors.yaml" \
  -crd "$crds/monitoring.coreos.com_prometheusrules.yaml" \
  -kinds io.k8s.api.core.v1.Service,io.k8s.api.core.v1.ConfigMap,io.k8s.api.core.v1.Secret,io.k8s.api.core.v1.ServiceAccount,io.k8s.api.policy.v1.PodDisruptionBudget,io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler,io.k8s.api.networking.v1.NetworkPolicy,io.k8s.api.batch.v1.Job \
  -openapi3 "$apps" -kinds3 io.k8s.api.apps.v1.Deployment
