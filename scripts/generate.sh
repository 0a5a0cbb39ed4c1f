#!/usr/bin/env bash
# Regenerates the checked-in Go code of proto/ with pinned protoc plugins.
# protoc itself is Debian's protobuf-compiler, installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
include=/usr/include
if ! command -v protoc >/dev/null || [ ! -f "$include/google/protobuf/timestamp.proto" ]; then
  if [ -x scripts/deps.sh ]; then
    scripts/deps.sh proto
  else
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends protobuf-compiler libprotobuf-dev >&2
  fi
fi
gen_go=$(scripts/tool.sh --path protoc-gen-go)
gen_grpc=$(scripts/tool.sh --path protoc-gen-go-grpc)
# The well-known types (timestamp.proto) ship with libprotobuf-dev.
[ -f "$include/google/protobuf/timestamp.proto" ] || { echo "generate.sh: $include/google/protobuf/timestamp.proto missing (install libprotobuf-dev)" >&2; exit 1; }
find proto -name '*.proto' -print0 | xargs -0 protoc -I proto -I "$include" \
  --plugin=protoc-gen-go="$gen_go" --plugin=protoc-gen-go-grpc="$gen_grpc" \
  --go_out=. --go_opt=module=github.com/extauthz/extauthz \
  --go-grpc_out=. --go-grpc_opt=module=github.com/extauthz/extauthz
