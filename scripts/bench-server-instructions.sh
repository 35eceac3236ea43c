#!/usr/bin/env bash
# Instructions per request of the benchmark servers (not a pass/fail test):
# scripts/bench-native.sh's servers run under valgrind's callgrind, which
# counts every user-space instruction they execute, so a build's cost per
# request is exact on a noisy machine where requests/s move by 10-20 % from
# run to run. For each route: zero the counters, run wrk (2 connections, a
# fixed time), dump them, divide by the requests wrk completed. The kernel's
# share (sockets, wake-ups) is not counted, and under valgrind sha2 runs its
# portable code (no SHA instructions), so the HMAC of the session cookie is
# printed apart: compare builds with the rest, not with the budgets. The
# local cache is left out: its heartbeat pings Redis a few hundred times a
# second while hits flow, work per second, not per request, that weighs
# about 50 times more at valgrind's ~2,000 requests/s than at native rates
# (its rows moved by 30 % between runs).
#
# The rows that matter: the view minus the same app's raw HGETALL is what
# the session layer adds to one Redis read of the record (cookie, HMAC,
# the handle, the record's decode, the commit).
#
#   bash scripts/bench-server-instructions.sh        # 5 s per route
#   SECONDS_PER_ROUTE=10 bash scripts/bench-server-instructions.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${SECONDS_PER_ROUTE:-5}"
for tool in valgrind callgrind_control callgrind_annotate wrk redis-server; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y valgrind wrk redis-server)" >&2; exit 1; }
done
cargo build --release --locked -q -p e2e --bin bench-axum --bin bare-redis-server
B="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
RP=$(fp)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

# measure NAME BINARY ARGS... -- ROUTE COOKIE_ROUTE ROUTE...: one server
# under callgrind, one row per route.
measure() {
    local name="$1" bin="$2"
    shift 2
    local args=()
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    local port pid cookie
    port=$(fp)
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p" "$bin" \
        --listen "127.0.0.1:$port" "${args[@]}" >/dev/null 2>"$WORK/$name.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 120); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.5
    done
    cookie=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/setup_session" |
        awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')
    [ -n "$cookie" ] || cookie="x=y"
    for route in "$@"; do
        # A new session: no cookie (the bare server: one SET of a new key).
        local sent="$cookie"
        case "$route" in setup_session | new_session) sent="x=y" ;; esac
        # Warm up the route (connections, caches), then count.
        wrk -t1 -c2 -d1s -H "Cookie: $sent" "http://127.0.0.1:$port/$route" >/dev/null
        callgrind_control -z "$pid" >/dev/null 2>&1
        local n
        n=$(wrk -t1 -c2 -d"${SECS}s" -H "Cookie: $sent" "http://127.0.0.1:$port/$route" |
            awk '/requests in/ {print $1}')
        callgrind_control -d "$route" "$pid" >/dev/null 2>&1
        local dump
        dump=$(grep -l "^desc: Trigger: dump $route\$" "$WORK/$name".* | head -1)
        local total sha
        total=$(awk '/^summary:/ {print $2}' "$dump")
        sha=$(callgrind_annotate --threshold=100 "$dump" 2>/dev/null |
            awk '/sha2::sha256::soft/ {gsub(",","",$1); s+=$1} END {print s+0}')
        printf '| %s | /%s | %d | %d | %d | %d |\n' "$name" "$route" "$n" \
            $(( total / n )) $(( sha / n )) $(( (total - sha) / n ))
        rm -f "$dump"
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

echo "| server | route | requests | instructions/request | of which SHA-256 (portable) | without SHA-256 |"
echo "|---|---|---:|---:|---:|---:|"
measure bare "$B/bare-redis-server" --redis "redis://127.0.0.1:$RP" -- \
    static view_session incr new_session
measure axum "$B/bench-axum" --redis "redis://127.0.0.1:$RP" -- \
    plain raw_get raw_hgetall view_session incr setup_session
