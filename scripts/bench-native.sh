#!/usr/bin/env bash
# Load benchmark (not a pass/fail test): the native demo with Redis against a
# bare hyper server doing the fewest Redis commands per request, both on
# loopback, driven by wrk. Prints requests/s, p99 and the ratio for:
#   view:  GET /view_session with a valid cookie (demo: one HGETALL;
#          bare: one HGETALL);
#   setup: GET /setup_session without a cookie (demo: a new session, one
#          create script; bare: one SET);
#   incr:  GET /incr with a valid cookie (demo: one HGETALL + the conditional,
#          field-level update script with HINCRBY; bare: one GET + one SET).
#
#   bash scripts/bench-native.sh            # 10 s per run
#   DURATION=30s CONNECTIONS=64 bash scripts/bench-native.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
ROUNDS="${ROUNDS:-2}"
PATHS="${PATHS:-view setup incr}"

for tool in wrk redis-server curl python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "missing $tool: apt-get install -y wrk redis-server curl" >&2
        exit 1
    fi
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building release binaries..."
cargo build --release --locked -q -p native-demo -p e2e --bin native-demo --bin bare-redis-server
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT"

DEMO_PORT="$(free_port)"
SESSION_SECRET="benchmark secret of at least thirty-two bytes" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    "$BIN/native-demo" --listen "127.0.0.1:$DEMO_PORT" >/dev/null 2>"$WORK/demo.err" &
PIDS+=($!)
BARE_PORT="$(free_port)"
"$BIN/bare-redis-server" --listen "127.0.0.1:$BARE_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$DEMO_PORT"
wait_port "$BARE_PORT"

COOKIE="$(curl -s -D - -o /dev/null "http://127.0.0.1:$DEMO_PORT/setup_session" | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')"
[ -n "$COOKIE" ] || { echo "no cookie from the demo" >&2; exit 1; }
curl -sf "http://127.0.0.1:$BARE_PORT/setup_session" >/dev/null

# run NAME URL [COOKIE] -> "rps p99_ms"
run() {
    local url="$1" cookie="${2:-}" out
    if [ -n "$cookie" ]; then
        out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$url")"
    else
        out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")"
    fi
    if grep -q "Non-2xx" <<<"$out"; then
        echo "non-2xx answers from $url:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps p99
    rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")"
    echo "$rps $p99"
}

# Warm both servers.
wrk -t1 -c8 -d2s -H "Cookie: $COOKIE" "http://127.0.0.1:$DEMO_PORT/view_session" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$BARE_PORT/view_session" >/dev/null

best() { sort -g -k1 | tail -n1; }
declare -A R
for path in $PATHS; do
    demo_runs=""; bare_runs=""
    for _ in $(seq "$ROUNDS"); do
        if [ "$path" = view ]; then
            demo_runs+="$(run "http://127.0.0.1:$DEMO_PORT/view_session" "$COOKIE")"$'\n'
            bare_runs+="$(run "http://127.0.0.1:$BARE_PORT/view_session")"$'\n'
        elif [ "$path" = incr ]; then
            demo_runs+="$(run "http://127.0.0.1:$DEMO_PORT/incr" "$COOKIE")"$'\n'
            bare_runs+="$(run "http://127.0.0.1:$BARE_PORT/incr")"$'\n'
        else
            demo_runs+="$(run "http://127.0.0.1:$DEMO_PORT/setup_session")"$'\n'
            bare_runs+="$(run "http://127.0.0.1:$BARE_PORT/setup_session")"$'\n'
        fi
    done
    R[demo_$path]="$(grep . <<<"$demo_runs" | best)"
    R[bare_$path]="$(grep . <<<"$bare_runs" | best)"
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, best of $ROUNDS, loopback, one redis-server; $(nproc) cores"
echo
printf '| path | server | requests/s | p99 (ms) |\n|---|---|---|---|\n'
for path in $PATHS; do
    read -r drps dp99 <<<"${R[demo_$path]}"
    read -r brps bp99 <<<"${R[bare_$path]}"
    printf '| %s | native-demo + edge-session (Redis) | %.0f | %.2f |\n' "$path" "$drps" "$dp99"
    case "$path" in
        view) bare="bare hyper + one HGETALL" ;;
        setup) bare="bare hyper + one SET" ;;
        incr) bare="bare hyper + GET + SET" ;;
    esac
    printf '| %s | %s | %.0f | %.2f |\n' "$path" "$bare" "$brps" "$bp99"
    ratio="$(python3 -c "print(f'{$drps/$brps:.3f}')")"
    printf '| %s | **ratio demo/bare** | **%s** | |\n' "$path" "$ratio"
done
echo
echo "Budgets (DESIGN.md): view within 5% of the bare server (ratio >= 0.95); incr within 10% of a bare GET + SET (ratio >= 0.90)."
