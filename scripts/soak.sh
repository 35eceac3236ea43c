#!/usr/bin/env bash
# Soak (pass/fail on leaks and errors, not on speed): mixed traffic against
# the native demo over a private redis-server for SECONDS (default 600),
# sampling the demo's RSS and Redis's key count every 10 s
# (tests/src/bin/soak.rs says what the traffic is and what fails the run).
#
#   bash scripts/soak.sh            # ten minutes, release build
#   bash scripts/soak.sh 60         # one minute
#   SOAK_PROFILE=debug bash scripts/soak.sh 60   # reuse the debug build (the test command)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_TO_RUN="${1:-600}"
PROFILE="${SOAK_PROFILE:-release}"
command -v redis-server >/dev/null || { echo "missing redis-server: apt-get install -y redis-server" >&2; exit 1; }
if [ "$PROFILE" = release ]; then
    cargo build --release --locked -q -p native-demo -p e2e --bin native-demo --bin soak
else
    cargo build --locked -q -p native-demo -p e2e --bin native-demo --bin soak
fi
exec "${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/soak" "$SECONDS_TO_RUN"
