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
  # Front ends of the end-to-end suite. Traefik's go.mod has replace
  # directives, so `go install` refuses it: it is built from the downloaded
  # module instead (below). v3.6 because several of v3.7's dependencies are
  # not served by every module proxy; v3.6 has everything forwardAuth needs
  # (authResponseHeaders, authRequestHeaders, addAuthCookiesToResponse).
  traefik) pkg=github.com/traefik/traefik/v3@v3.6.12 ;;
  caddy) pkg=github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9 ;;
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
  case "$name" in
    traefik)
      # go install refuses a module whose go.mod has replace directives:
      # download the module, build it in a writable copy, keep the binary.
      src=$(go mod download -json "$pkg" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$src" ] || { echo "tool.sh: go mod download $pkg printed no Dir" >&2; exit 1; }
      work=$(mktemp -d)
      trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
      cp -R "$src/." "$work/"
      chmod -R u+w "$work"
      mkdir -p "$dir"
      (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$bin.tmp" ./cmd/traefik) >&2
      mv "$bin.tmp" "$bin"
      chmod -R u+w "$work"; rm -rf "$work"; trap - EXIT
      ;;
    *) GOBIN="$dir" go install "$pkg" >&2 ;;
  esac
fi
if $print_path; then echo "$bin"; exit 0; fi
exec "$bin" "$@"
