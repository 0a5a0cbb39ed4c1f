#!/usr/bin/env bash
# Runs a pinned Go tool, installing it into the per-user cache (~/.cache/extauthz/tools) on first use.
# Usage: scripts/tool.sh NAME [ARGS...]
#        scripts/tool.sh --path NAME   (install, then print the binary's path)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
print_path=false
if [ "$1" = --path ]; then print_path=true; shift; fi
name=$1; shift
case "$name" in
  staticcheck) pkg=honnef.co/go/tools/cmd/staticcheck@v0.8.2 ;;
  govulncheck) pkg=golang.org/x/vuln/cmd/govulncheck@v1.9.0 ;;
  kubeconform) pkg=github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0 ;;
  # v5.8.3 cannot be installed: the module proxy refuses the k8s.io/kube-openapi
  # pseudo-version it requires (403). v5.8.2 builds with our Go.
  kustomize) pkg=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2 ;;
  # The chart deploy/helm/extauthz is linted and rendered with it (make deploy-check).
  helm) pkg=helm.sh/helm/v3/cmd/helm@v3.22.0 ;;
  # Prometheus tags its Go module v0.3xx.y for release 3.x.y.
  promtool) pkg=github.com/prometheus/prometheus/cmd/promtool@v0.316.0 ;;
  ghz) pkg=github.com/bojand/ghz/cmd/ghz@v0.120.0 ;;
  grpcurl) pkg=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3 ;;
  oauth2-proxy) pkg=github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6 ;;
  protoc-gen-go) pkg=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 ;;
  protoc-gen-go-grpc) pkg=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0 ;;
  *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
esac
# Cached per user, outside the checkout, so fresh clones (CI) reuse it.
cache="${EXTAUTHZ_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/extauthz/tools}"
# Keyed by the Go release too: a tool built by another Go may not load
# packages that need this one (govulncheck, staticcheck).
dir="$cache/$name/${pkg##*@}-${GOTOOLCHAIN}"
bin="$dir/$name"
if [ ! -x "$bin" ]; then
  echo "installing $pkg" >&2
  GOBIN="$dir" go install "$pkg" >&2
fi
if $print_path; then echo "$bin"; exit 0; fi
exec "$bin" "$@"
