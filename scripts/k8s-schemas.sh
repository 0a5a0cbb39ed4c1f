#!/usr/bin/env bash
# Regenerates deploy/k8s/schemas/*.json, the strict JSON schemas kubeconform
# validates the rendered manifests with (it cannot download its default
# ones here). Sources come through the Go module proxy: the Kubernetes 1.27
# OpenAPI document shipped as test data in k8s.io/kube-openapi, and the
# ServiceMonitor CRD of prometheus-operator. See deploy/k8s/schemas/gen.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
openapi=k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad
promop=github.com/prometheus-operator/prometheus-operator@v0.85.0
dir_of() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
swagger="$(dir_of "$openapi")/pkg/schemaconv/testdata/swagger.json"
crd="$(dir_of "$promop")/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
out=deploy/k8s/schemas
rm -f "$out"/*.json
go run ./deploy/k8s/schemas/gen -out "$out" -swagger "$swagger" -crd "$crd" -kinds \
io.k8s.api.apps.v1.Deployment,io.k8s.api.core.v1.Service,io.k8s.api.core.v1.ConfigMap,io.k8s.api.core.v1.Secret,io.k8s.api.core.v1.ServiceAccount,io.k8s.api.policy.v1.PodDisruptionBudget,io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler,io.k8s.api.networking.v1.NetworkPolicy,io.k8s.api.batch.v1.Job
