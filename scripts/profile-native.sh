#!/usr/bin/env bash
# Per-request costs behind scripts/bench-native.sh's ratios (a measurement,
# not a test): for the bare hyper server, the axum app with the Redis store
# (edge), with the local cache (cache) and with the memory store (memory):
#   * CPU microseconds per request of the server and of redis-server
#     (utime + stime from /proc over a wrk run);
#   * malloc calls per request (a perf uprobe on libc's malloc; needs root
#     or perf_event_paranoid <= 1; skipped otherwise).
#
#   bash scripts/profile-native.sh            # view, incr, setup
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --locked -q -p e2e --bin bench-axum --bin bare-redis-server
B="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
RP=$(fp); redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null 2>&1 & RPID=$!; PIDS+=($RPID)
sleep 0.5
declare -A PORT PID COOKIE
start() { local name="$1"; shift; PORT[$name]=$(fp); "$@" --listen "127.0.0.1:${PORT[$name]}" >/dev/null 2>&1 & PID[$name]=$!; PIDS+=(${PID[$name]}); }
start bare "$B/bare-redis-server" --redis "redis://127.0.0.1:$RP"
start edge "$B/bench-axum" --redis "redis://127.0.0.1:$RP"
start cache "$B/bench-axum" --redis "redis://127.0.0.1:$RP" --cache
start memory "$B/bench-axum" --memory
sleep 1
for s in edge cache memory; do
    COOKIE[$s]=$(curl -s -D - -o /dev/null "http://127.0.0.1:${PORT[$s]}/setup_session" | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')
done
COOKIE[bare]="x=y"; curl -s "http://127.0.0.1:${PORT[bare]}/setup_session" >/dev/null
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
MALLOC=0
perf probe -q -x "$(ldd "$B/bench-axum" | awk '/libc.so/ {print $3}')" malloc >/dev/null 2>&1 || true
if perf stat -e probe_libc:malloc -o /dev/null true >/dev/null 2>&1; then MALLOC=1; fi
printf '| path | server | req/s | server CPU µs/req | redis CPU µs/req | mallocs/req |\n|---|---|---:|---:|---:|---:|\n'
for route in view_session incr setup_session; do
    for s in bare edge cache memory; do
        [ "$s:$route" = cache:setup_session ] && continue
        s0=$(ticks "${PID[$s]}"); r0=$(ticks "$RPID")
        out=$(wrk -t1 -c32 -d4s -H "Cookie: ${COOKIE[$s]}" "http://127.0.0.1:${PORT[$s]}/$route")
        n=$(awk '/requests in/ {print $1}' <<<"$out"); rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        cpu=$(python3 -c "print(f'{($(ticks "${PID[$s]}")-$s0)/$HZ/$n*1e6:.1f}')")
        rcpu=$(python3 -c "print(f'{($(ticks "$RPID")-$r0)/$HZ/$n*1e6:.1f}')")
        mallocs="-"
        if [ "$MALLOC" = 1 ]; then
            perf stat -e probe_libc:malloc -p "${PID[$s]}" -o "$WORK/mc" -- sleep 3 >/dev/null 2>&1 & PP=$!
            sleep 0.3
            m=$(wrk -t1 -c8 -d2s -H "Cookie: ${COOKIE[$s]}" "http://127.0.0.1:${PORT[$s]}/$route" | awk '/requests in/ {print $1}')
            wait "$PP" || true
            c=$(awk '/probe_libc:malloc/ {gsub(",","",$1); print $1}' "$WORK/mc")
            mallocs=$(python3 -c "print(round($c/$m,1))")
        fi
        printf '| %s | %s | %.0f | %s | %s | %s |\n' "${route%_session}" "$s" "$rps" "$cpu" "$rcpu" "$mallocs"
    done
done
