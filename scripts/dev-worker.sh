#!/usr/bin/env bash
# Runs the worker demo locally: `npx wrangler dev` (workerd, local Durable Objects) with
# Node 22, after installing what it needs (idempotent). Open
# http://127.0.0.1:8787/setup_session. A SESSION_SECRET comes from .dev.vars
# (created from .dev.vars.example with a random secret if missing).
#
#   bash scripts/dev-worker.sh [wrangler dev args...]   (e.g. --port 8790)
#   DEV_WORKER_DRY_RUN=1 bash scripts/dev-worker.sh ...  # print the command only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tools.sh
source "$ROOT/scripts/tools.sh"
cd "$ROOT"
# Defaults for --ip and --port unless the caller gives their own (wrangler
# refuses a flag given twice): `bash scripts/dev-worker.sh --port 8790`.
ip=(--ip 127.0.0.1)
port=(--port 8787)
for arg in "$@"; do
    case "$arg" in
        --ip | --ip=*) ip=() ;;
        --port | --port=*) port=() ;;
    esac
done
command=(npx wrangler dev "${ip[@]}" "${port[@]}" "$@")
# wrangler prints the values of [vars] when it starts: a secret there leaks.
if awk '/^\[/ { in_vars = ($0 ~ /^\[vars\]/); next } in_vars && /^[[:space:]]*(SESSION_SECRET|SESSION_SECRET_PREVIOUS|UPSTASH_REDIS_REST_TOKEN)[[:space:]]*=/' wrangler.toml | grep -q .; then
    echo "dev-worker: a secret is under [vars] in wrangler.toml, and wrangler prints vars." >&2
    echo "Move it to .dev.vars (local) or set it with: npx wrangler secret put SESSION_SECRET" >&2
    exit 1
fi
if [ "${DEV_WORKER_DRY_RUN:-0}" = 1 ]; then
    # Print the command only: nothing installed, no .dev.vars written.
    echo "${command[*]}"
    exit 0
fi
ensure_rust_targets
ensure_wasm_bindgen
ensure_worker_build
ensure_node_modules
if [ ! -f .dev.vars ]; then
    secret="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
    printf 'SESSION_SECRET="%s"\n' "$secret" > .dev.vars
    echo "created .dev.vars with a random SESSION_SECRET"
fi
export WRANGLER_SEND_METRICS=false
exec "${command[@]}"
