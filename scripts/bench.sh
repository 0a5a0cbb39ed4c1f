#!/usr/bin/env bash
# make bench: drive extauthz and a do-nothing ext_authz server (the floor)
# over loopback gRPC in one run, against a throw-away PostgreSQL, and print
# the table (req/s, p50, p99, allocations, ratio to the floor), the paced
# comparison at half the steady-state peak, and throughput/RSS with 10k,
# 100k and 1M live sessions; then the HTTP check against oauth2-proxy's
# /oauth2/auth and a do-nothing HTTP server (interleaved rounds, then paced
# at half the lowest peak); then the Go micro-benchmarks of the hot path.
#
# Usage: scripts/bench.sh [--smoke] [--no-settle] [--out FILE] [--profile DIR]
#   --smoke        every scenario for 0.5 s, 10k and 20k live sessions,
#                  a storm of 2,000 people (CI, about a minute)
#   --no-settle    measure the steady state after the timed warm-up alone,
#                  without first waiting (BENCH_SETTLE, default 10s at most)
#                  for a pass over its users that makes no store query
#   --out FILE     also write the report (markdown, with the machine) to FILE
#   --profile DIR  also write CPU profiles (floor, steady state, re-key) to DIR
# Environment: BENCH_DURATION (default 5s), BENCH_CONCURRENCY (default 32);
# BENCH_SERVER_ENV adds environment to the extauthz under test (e.g.
# GODEBUG=gctrace=1) and BENCH_SERVER_LOGS=1 prints its log at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
smoke=false
settle=${BENCH_SETTLE:-10s}
out=""
profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=true ;;
    --no-settle) settle=0 ;;
    --out) out=$2; shift ;;
    --profile) profile=$(realpath -m "$2"); shift ;;
    *) echo "usage: $0 [--smoke] [--no-settle] [--out FILE] [--profile DIR]" >&2; exit 2 ;;
  esac
  shift
done

machine() {
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3-),"\
    "PostgreSQL $(ls -d /usr/lib/postgresql/*/ 2>/dev/null | sort -V | tail -1 | xargs -r basename || echo '?')."
}

report=$(mktemp)
trap 'rm -f "$report"' EXIT
args=(-bench.out "$report" -bench.duration "${BENCH_DURATION:-5s}" -bench.concurrency "${BENCH_CONCURRENCY:-32}" -bench.settle "$settle")
$smoke && args+=(-bench.smoke)
[ -n "$profile" ] && args+=(-bench.profile "$profile")

machine
# The load run (skipped by plain `go test` unless EXTAUTHZ_BENCH is set).
EXTAUTHZ_BENCH=1 go test -count=1 -timeout 30m -run '^(TestBench|TestSignInStorm|TestHTTPBench|TestRegistrationFlood)$' -v ./test/bench/ -args "${args[@]}" \
  | grep -v -e '^=== ' -e '^--- PASS' -e '^PASS' -e '^ok '

benchtime=1s short=""
$smoke && benchtime=100ms short=-short
# ServedCheck: the Check as serve wires it, tracing off (off) against the
# engine alone (bare), and on (pkg/tracing).
micro=$(go test -run '^$' $short -bench 'Hit|CheckSteadyState|GCFullCache|ServedCheck' -benchtime "$benchtime" -benchmem ./pkg/cache/ ./pkg/envoy/ ./internal/server/ \
  | grep -E '^Benchmark')
printf '## Go benchmarks of the hot path\n\n```\n%s\n```\n' "$micro"

if [ -n "$out" ]; then
  { echo "$(machine)"; echo; cat "$report"; printf '## Go benchmarks of the hot path\n\n```\n%s\n```\n' "$micro"; } > "$out"
  echo "report written to $out"
fi
