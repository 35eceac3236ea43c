#!/usr/bin/env bash
# Builds a workers-rs crate with worker-build, offline: wasm-bindgen from
# ~/.cargo/bin (the Cargo.lock version), wasm-opt and esbuild from the repo's
# node_modules (`npm ci`), size-optimised release profile.
#
#   bash scripts/build-worker.sh crates/worker-demo
#
# WORKER_PREBUILT=1 skips the build when the output exists (the tests build
# once, then start several `wrangler dev`s).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CRATE="${1:-crates/worker-demo}"
cd "$ROOT/$CRATE"
if [ "${WORKER_PREBUILT:-0}" = 1 ] && [ -f build/worker/shim.mjs ] && [ -f build/index_bg.wasm ]; then
    echo "build-worker: using the prebuilt $CRATE/build"
    exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}"
for bin in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
    [ -x "$bin" ] || { echo "build-worker: missing $bin (run scripts/test.sh once, or npm ci)" >&2; exit 1; }
done
command -v worker-build >/dev/null || { echo "build-worker: worker-build missing: cargo install worker-build --version 0.8.7 --locked" >&2; exit 1; }
# The size profile for wasm (TOOLCHAIN.md: opt-level z + LTO + 1 codegen unit).
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_STRIP=true
exec worker-build --release
