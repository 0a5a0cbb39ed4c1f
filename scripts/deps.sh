#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests need when they are
# missing: nginx (auth_request is built into Debian's nginx-light and nginx)
# and Chromium for the real-browser test. Idempotent; needs root (or sudo)
# only when something is actually missing.
# proto: protoc and the well-known .proto files for `make generate`.
# db: PostgreSQL server binaries (initdb, postgres) for the throw-away test
# clusters (the tests never use the cluster the package may create).
# Usage: scripts/deps.sh [db|e2e|browser|proto|all]   (default: all)
set -euo pipefail
what=${1:-all}

need=()
if [ "$what" = db ] || [ "$what" = all ]; then
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
fi
if [ "$what" = browser ] || [ "$what" = all ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
fi
if [ "$what" = proto ] || [ "$what" = all ]; then
  command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
  [ -f /usr/include/google/protobuf/timestamp.proto ] || need+=(libprotobuf-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
echo "deps.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A package may be missing from a stale list, so refresh the lists first.
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
# nginx's package starts a system nginx on :80 where an init system runs;
# the tests start their own, so stop that one if the package started it.
if [ -x /usr/sbin/service ] && printf '%s\n' "${need[@]}" | grep -q nginx; then
  "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
fi
