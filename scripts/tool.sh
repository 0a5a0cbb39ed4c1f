#!/usr/bin/env bash
# Runs a pinned Go tool, installing it into .cache/tools on first use.
# Usage: scripts/tool.sh NAME [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
case "$name" in
  staticcheck) pkg=honnef.co/go/tools/cmd/staticcheck@v0.8.2 ;;
  govulncheck) pkg=golang.org/x/vuln/cmd/govulncheck@v1.9.0 ;;
  kubeconform) pkg=github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0 ;;
  ghz) pkg=github.com/bojand/ghz/cmd/ghz@v0.120.0 ;;
  oauth2-proxy) pkg=github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6 ;;
  protoc-gen-go) pkg=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 ;;
  protoc-gen-go-grpc) pkg=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0 ;;
  *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
esac
dir="$PWD/.cache/tools/${pkg##*@}"
bin="$dir/$name"
if [ ! -x "$bin" ]; then
  echo "installing $pkg" >&2
  GOBIN="$dir" go install "$pkg" >&2
fi
exec "$bin" "$@"
