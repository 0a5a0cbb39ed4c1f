#!/usr/bin/env bash
# Runs govulncheck (pinned in scripts/tool.sh) against the Go vulnerability
# database, offline when it has to be.
#
# 1. vuln.go.dev reachable: the online database, as govulncheck does by
#    default.
# 2. Otherwise: a local copy built from golang.org/x/vulndb, which the Go
#    module proxy serves like any module (its data/osv holds every report as
#    OSV JSON). Its own cmd/indexdb turns that into the v1 layout that
#    `govulncheck -db file://…` reads. Built once per vulndb version under
#    .cache/vulndb. VULNDB_VERSION pins a version (default: @latest, i.e.
#    the newest reports the proxy has).
# 3. Neither reachable: skip with the reason, exit 0 — never a silent pass.
#
# Usage: scripts/vulncheck.sh [govulncheck args...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
[ $# -gt 0 ] || set -- ./...
gvc=$(scripts/tool.sh --path govulncheck)

if curl -sfI --max-time 5 https://vuln.go.dev/index/db.json.gz >/dev/null 2>&1; then
  echo "govulncheck: online database (vuln.go.dev)"
  "$gvc" -json "$@" | go run ./scripts/vulngate
  exit
fi

why="vuln.go.dev unreachable"
ver=${VULNDB_VERSION:-}
if [ -z "$ver" ]; then
  ver=$(cd /tmp && GOFLAGS= go list -m -f '{{.Version}}' golang.org/x/vulndb@latest 2>/dev/null) || ver=
fi
if [ -z "$ver" ]; then
  echo "govulncheck: SKIPPED — $why and golang.org/x/vulndb not resolvable through the module proxy ($(go env GOPROXY))"
  exit 0
fi
db="$PWD/.cache/vulndb/$ver"
if [ ! -f "$db/index/db.json" ]; then
  src=$(cd /tmp && GOFLAGS= go mod download -json "golang.org/x/vulndb@$ver" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || src=
  if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
    echo "govulncheck: SKIPPED — $why and golang.org/x/vulndb@$ver could not be downloaded"
    exit 0
  fi
  tools="$PWD/.cache/tools/vulndb-$ver"
  if [ ! -x "$tools/indexdb" ]; then
    echo "installing golang.org/x/vulndb/cmd/indexdb@$ver" >&2
    (cd /tmp && GOFLAGS= GOBIN="$tools" go install "golang.org/x/vulndb/cmd/indexdb@$ver") >&2
  fi
  rm -rf "$db.tmp"
  "$tools/indexdb" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi
echo "govulncheck: $why; local database from golang.org/x/vulndb@$ver ($(ls "$db/ID" | grep -c "\.json$") reports)"
"$gvc" -json -db "file://$db" "$@" | go run ./scripts/vulngate
