#!/usr/bin/env bash
# make deploy-check: lint and render the Helm chart (the one source of the
# Kubernetes manifests) with its defaults, the three value sets in its ci/
# folder and the Traefik on Kubernetes example's values, validate every
# rendering and the Istio, Envoy Gateway and Traefik on Kubernetes manifests
# offline, check deploy/k8s is the chart's default rendering, assert what
# the values promise on the rendered objects, validate the Envoy bootstraps
# and the shipped configs, and run the Dockerfile's build line.
#
# kubeconform normally downloads its schemas at run time; the build machines
# reach no network but the package registries, so it is pointed at the strict
# schemas checked in under deploy/k8s/schemas (scripts/k8s-schemas.sh
# regenerates them). A kind without a schema there is an error, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
schemas='deploy/k8s/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json'
chart=deploy/helm/extauthz
# Helm built with `go install` assumes Kubernetes 1.20 without a cluster.
kube=1.30.0

kubeconform() { scripts/tool.sh kubeconform -strict -summary -schema-location "$schemas" "$@"; }
helm=$(scripts/tool.sh --path helm)

for values in "" "$chart"/ci/*-values.yaml deploy/traefik/kubernetes/extauthz-values.yaml; do
  name=default
  args=()
  if [ -n "$values" ]; then name=$(basename "$(dirname "$values")")-$(basename "$values" -values.yaml); args=(-f "$values"); fi
  echo "deploy-check: helm lint + template ($name values)"
  "$helm" lint --strict --kube-version "$kube" "$chart" "${args[@]}" >"$out/lint.log" || { cat "$out/lint.log" >&2; exit 1; }
  "$helm" template extauthz "$chart" --namespace extauthz --kube-version "$kube" "${args[@]}" > "$out/helm_$name.yaml"
  kubeconform "$out/helm_$name.yaml"
done

echo "deploy-check: deploy/k8s is the chart's rendering"
scripts/k8s-render.sh --check
echo "deploy-check: kustomize build deploy/k8s"
scripts/tool.sh kustomize build deploy/k8s > "$out/kustomize.yaml"
kubeconform "$out/kustomize.yaml"

# The schemas are strict: a misspelt field must fail.
sed 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' "$out/helm_default.yaml" > "$out/broken.yaml"
if kubeconform "$out/broken.yaml" >"$out/broken.log" 2>&1; then
  echo "deploy-check: kubeconform accepted an unknown field" >&2; cat "$out/broken.log" >&2; exit 1
fi
echo "deploy-check: an unknown field is rejected (strict schemas)"

echo "deploy-check: Istio, Envoy Gateway and Traefik on Kubernetes manifests (schemas from their own CRDs)"
for f in deploy/istio/*.yaml deploy/envoy-gateway/*.yaml deploy/traefik/kubernetes/*.yaml; do
  case $f in *-values.yaml) continue ;; esac # Helm values, checked by the Go tests below
  kubeconform "$f"
done
go test -count=1 ./deploy/istio/ ./deploy/envoy-gateway/ ./deploy/traefik/kubernetes/

go build -o "$out/extauthz" ./cmd/extauthz
echo "deploy-check: the rendered objects keep what the values say (NetworkPolicy peers, the HTTP check port, HPA xor replicas, headless Service, PDB, probes, shutdown, config)"
EXTAUTHZ_HELM="$helm" EXTAUTHZ_BIN="$out/extauthz" go test -count=1 ./deploy/helm/

echo "deploy-check: extauthz configs"
for c in deploy/examples/*.yaml; do
  "$out/extauthz" serve --check-config --config "$c" >/dev/null || { echo "deploy-check: $c is invalid" >&2; exit 1; }
done

echo "deploy-check: Envoy bootstraps"
go test -count=1 ./deploy/envoy/

echo "deploy-check: the Dockerfile's build line"
line=$(sed -n '/^# build:$/{n;p;}' Dockerfile)
case "$line" in "RUN CGO_ENABLED=0 "*) ;; *) echo "deploy-check: no '# build:' RUN line in Dockerfile" >&2; exit 1 ;; esac
cmd=${line#RUN }
cmd=${cmd//\/out\/extauthz/$out/docker-extauthz}
VERSION=deploy-check bash -c "$cmd"
go version -m "$out/docker-extauthz" | grep -q 'CGO_ENABLED=0' || { echo "deploy-check: binary not built with CGO_ENABLED=0" >&2; exit 1; }
if command -v ldd >/dev/null && ldd "$out/docker-extauthz" 2>&1 | grep -q '=>'; then
  echo "deploy-check: binary is dynamically linked" >&2; exit 1
fi
"$out/docker-extauthz" version
echo "deploy-check: ok"
