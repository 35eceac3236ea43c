#!/usr/bin/env bash
# Instructions per request of the core engine (not a pass/fail test): the
# criterion bench's cases (crates/edge-session/benches/engine.rs) run a fixed
# number of times under valgrind's callgrind, which counts every instruction
# executed: the same binary and input give the same count on a quiet or a
# noisy machine, where time does not. Each case's count minus a run of no
# case (the setup), divided by the iterations. Compare two builds with it, not
# with the HMAC budget: under valgrind sha2 cannot use the CPU's SHA
# instructions, so its HMAC is the portable code, far more instructions than
# the native one.
#
#   bash scripts/bench-instructions.sh           # 20,000 iterations per case
#   ITERATIONS=5000 bash scripts/bench-instructions.sh
#   BENCH_BIN=/path/to/engine-binary bash scripts/bench-instructions.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ITERATIONS="${ITERATIONS:-20000}"
command -v valgrind >/dev/null || { echo "missing valgrind: apt-get install -y valgrind" >&2; exit 1; }
BIN="${BENCH_BIN:-}"
if [ -z "$BIN" ]; then
    BIN="$(cargo bench --locked -p edge-session --bench engine --no-run 2>&1 |
        awk '/Executable/ {gsub(/[()]/, "", $NF); print $NF}')"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
count() {
    ENGINE_ITERATIONS="$2" ENGINE_CASE="$1" valgrind --tool=callgrind \
        --callgrind-out-file="$WORK/out" "$BIN" --bench >/dev/null 2>"$WORK/log"
    awk '/^summary:/ {print $2}' "$WORK/out"
}
base="$(count none "$ITERATIONS")"
echo "| case | instructions per request |"
echo "|---|---:|"
for case in hmac_sha256_of_cookie request_untouched request_changed; do
    total="$(count "$case" "$ITERATIONS")"
    printf '| %s | %d |\n' "$case" $(( (total - base) / ITERATIONS ))
done
