#!/usr/bin/env bash
# Load benchmark (not a pass/fail test): the worker demo under `wrangler dev`
# on Durable Objects, Workers KV and Upstash (the repo's emulator over a local
# redis-server), driven by wrk: requests/s and p50/p99 for a view and an
# increment. Local simulators, not Cloudflare's network.
#
#   bash scripts/bench-worker-stores.sh
#   DURATION=20s CONNECTIONS=16 bash scripts/bench-worker-stores.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tools.sh
source "$ROOT/scripts/tools.sh"
cd "$ROOT"
ensure_node >/dev/null
ensure_node_modules >/dev/null
command -v wrk >/dev/null || { echo "missing wrk: apt-get install -y wrk" >&2; exit 1; }
bash scripts/build-worker.sh crates/worker-demo >/dev/null
cargo build --release --locked -q -p e2e --bin bench_worker_stores --bin upstash-emulator
exec "${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_worker_stores"
