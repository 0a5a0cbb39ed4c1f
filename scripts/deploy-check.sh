#!/usr/bin/env bash
# make deploy-check: render the Kubernetes manifests and validate them
# offline, validate the Envoy bootstraps and the shipped configs, and run the
# Dockerfile's build line.
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

kubeconform() { scripts/tool.sh kubeconform -strict -summary -schema-location "$schemas" "$@"; }

for k in deploy/k8s/base deploy/k8s/overlays/*/; do
  k=${k%/}
  name=$(echo "$k" | tr / _)
  echo "deploy-check: kustomize build $k"
  scripts/tool.sh kustomize build "$k" > "$out/$name.yaml"
  kubeconform "$out/$name.yaml"
done

# The schemas are strict: a misspelt field must fail.
sed 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' "$out/deploy_k8s_base.yaml" > "$out/broken.yaml"
if kubeconform "$out/broken.yaml" >"$out/broken.log" 2>&1; then
  echo "deploy-check: kubeconform accepted an unknown field" >&2; cat "$out/broken.log" >&2; exit 1
fi
echo "deploy-check: an unknown field is rejected (strict schemas)"

# The rendered Deployment keeps the properties the issue asks for.
d="$out/deploy_k8s_overlays_example.yaml"
for want in 'runAsNonRoot: true' 'readOnlyRootFilesystem: true' '- ALL' 'type: RuntimeDefault' \
  'grpc:' 'path: /readyz' 'topologySpreadConstraints:' 'secretKeyRef:' 'kind: ServiceMonitor' \
  'kind: PodDisruptionBudget' 'kind: HorizontalPodAutoscaler' 'kind: NetworkPolicy' '- migrate'; do
  grep -qF -- "$want" "$d" || { echo "deploy-check: rendered example lacks '$want'" >&2; exit 1; }
done

echo "deploy-check: extauthz configs"
go build -o "$out/extauthz" ./cmd/extauthz
for c in deploy/k8s/base/extauthz.yaml deploy/k8s/overlays/*/extauthz.yaml deploy/examples/*.yaml; do
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
