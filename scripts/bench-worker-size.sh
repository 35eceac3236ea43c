#!/usr/bin/env bash
# Size report (not a pass/fail test): the worker demo's .wasm next to a bare
# workers-rs Router + KV + cookie + fetch worker (tests/bare-worker), both
# built by scripts/build-worker.sh with the same profile (opt-level "z", LTO,
# one codegen unit, stripped, wasm-opt -Oz). DESIGN.md's budget: the demo
# within +50 KB of the bare worker, gzip -9.
#
#   bash scripts/bench-worker-size.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tools.sh
source "$ROOT/scripts/tools.sh"
cd "$ROOT"
ensure_node_modules >/dev/null
for crate in tests/bare-worker crates/worker-demo; do
    echo "building $crate..."
    WORKER_PREBUILT=0 bash scripts/build-worker.sh "$crate" >/dev/null 2>&1 ||
        { echo "build of $crate failed: bash scripts/build-worker.sh $crate" >&2; exit 1; }
done
raw() { stat -c %s "$1/build/index_bg.wasm"; }
gz() { gzip -9 < "$1/build/index_bg.wasm" | wc -c; }  # stdin: no file name stored
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
br="$(raw tests/bare-worker)"; bg="$(gz tests/bare-worker)"
dr="$(raw crates/worker-demo)"; dg="$(gz crates/worker-demo)"
echo
echo "| worker | .wasm raw | .wasm gzip -9 |"
echo "|---|---|---|"
echo "| bare workers-rs Router + KV + cookie + fetch (tests/bare-worker) | $(kb "$br") | $(kb "$bg") |"
echo "| worker-demo: edge-session, Durable Objects + KV + Upstash stores, 7 routes | $(kb "$dr") | $(kb "$dg") |"
echo "| **difference** | $(kb $((dr - br))) | **$(kb $((dg - bg)))** |"
echo
echo "Budget (DESIGN.md): +50 KB gzip -9 over the bare worker."
