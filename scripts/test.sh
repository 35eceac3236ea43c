#!/usr/bin/env bash
# The one test command: installs what the suites need (skipping what is
# already there), runs every suite, prints a summary, and exits non-zero if
# any suite failed or could not run. `.ci/run` calls exactly this.
#
#   bash scripts/test.sh            # everything
#   FUZZ_SECONDS=120 bash scripts/test.sh
#   SKIP_INSTALL=1 bash scripts/test.sh   # tools already installed
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="$HOME/.cargo/bin:$PATH"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edge-session-tests.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT

PASSED=()
FAILED=()

say() { printf '\n=== %s\n' "$*"; }

# suite NAME CMD...: runs CMD, shows its output, records the result.
suite() {
    local name="$1"; shift
    say "$name"
    local log="$LOG_DIR/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log"
    local start=$SECONDS
    if "$@" 2>&1 | tee "$log"; then
        PASSED+=("$name")
        echo "--- $name: ok ($((SECONDS - start)) s)"
    else
        FAILED+=("$name")
        echo "--- $name: FAILED ($((SECONDS - start)) s)"
    fi
}

# require_in_log NAME REGEX: the last suite's log must match (guards against
# a runner that "passes" without running anything).
require_in_log() {
    local name="$1" regex="$2"
    local log="$LOG_DIR/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log"
    if ! grep -Eq "$regex" "$log"; then
        echo "--- $name: expected output /$regex/ missing: the suite did not really run"
        local kept=() s
        for s in "${PASSED[@]}"; do [ "$s" = "$name" ] || kept+=("$s"); done
        PASSED=("${kept[@]}")
        FAILED+=("$name (did not run)")
    fi
}

# ---------------------------------------------------------------- install
install_tools() {
    local ok=0
    say "install: rust components and targets"
    local comps
    comps="$(rustup component list --installed 2>/dev/null)"
    for c in rustfmt clippy; do
        grep -q "^$c" <<<"$comps" || rustup component add "$c" || ok=1
    done
    local targets
    targets="$(rustup target list --installed)"
    for t in wasm32-unknown-unknown thumbv7em-none-eabi; do
        grep -qx "$t" <<<"$targets" || rustup target add "$t" || ok=1
    done

    say "install: wasm-bindgen-cli at the Cargo.lock version"
    local want
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
    if [ -z "$want" ]; then
        echo "wasm-bindgen is not in Cargo.lock"; ok=1
    elif [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        # `--locked` fails for this crate through the registry mirror (see TOOLCHAIN.md).
        cargo install wasm-bindgen-cli --version "$want" --force || ok=1
    fi
    echo "wasm-bindgen $(wasm-bindgen --version 2>/dev/null | awk '{print $2}') (Cargo.lock: $want)"

    say "install: Debian packages (chromium, chromedriver, redis-server)"
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ]; then APT=(apt-get); else APT=(sudo apt-get); fi
        echo "installing: ${missing[*]}"
        "${APT[@]}" update -qq &&
            DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${missing[@]}" >/dev/null || ok=1
    fi
    chromium --version 2>/dev/null || ok=1
    chromedriver --version 2>/dev/null || ok=1
    redis-server --version 2>/dev/null || ok=1

    say "install: cargo-fuzz"
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked || ok=1
    return $ok
}

if [ "${SKIP_INSTALL:-0}" = 1 ]; then
    echo "SKIP_INSTALL=1: not installing tools"
else
    suite "install tools" install_tools
fi

# ---------------------------------------------------------------- suites
suite "cargo fmt --check" cargo fmt --all --check

suite "clippy (native, all features)" cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

suite "clippy (wasm32)" cargo clippy -p edge-session --all-targets --locked \
    --target wasm32-unknown-unknown -- -D warnings

suite "clippy (no_std, thumbv7em)" cargo clippy -p edge-session --no-default-features --locked \
    --target thumbv7em-none-eabi -- -D warnings

suite "docs (broken links denied)" env RUSTDOCFLAGS="-D warnings" \
    cargo doc --workspace --no-deps --locked

suite "build binaries (native-demo, bare-redis-server)" cargo build --workspace --bins --locked

NATIVE="native tests: core, tower + axum, e2e over native-demo, redis-server, Redis Cluster, Chromium"
suite "$NATIVE" env CHROMEDRIVER="$(command -v chromedriver)" cargo test --workspace --locked
require_in_log "$NATIVE" 'test result: ok\. [1-9][0-9]* passed'
for t in readme_cookie_format_vectors sign_verify_round_trip axum_router_flow \
    redis_down_gives_503_and_recovers_without_restart redis_cluster_store_conformance \
    chromium_keeps_and_drops_the_session_cookie memory_concurrency_200_clients; do
    require_in_log "$NATIVE" "^test $t \.\.\. ok"
done

suite "no_std build: wasm32-unknown-unknown" cargo build -p edge-session --no-default-features \
    --target wasm32-unknown-unknown --locked
suite "no_std build: thumbv7em-none-eabi" cargo build -p edge-session --no-default-features \
    --target thumbv7em-none-eabi --locked

suite "core suite in headless Chromium (wasm-bindgen-test)" env CHROMEDRIVER="$(command -v chromedriver)" \
    cargo test -p edge-session --target wasm32-unknown-unknown --locked --test core
require_in_log "core suite in headless Chromium (wasm-bindgen-test)" 'Running headless tests in Chrome'
require_in_log "core suite in headless Chromium (wasm-bindgen-test)" 'test result: ok\. [1-9][0-9]* passed'

fuzz() {
    local corpus
    corpus="$(mktemp -d "$LOG_DIR/corpus.XXXXXX")"
    cd crates/edge-session/fuzz &&
        cargo fetch --locked --quiet &&
        cargo fuzz run -s none cookie_verify "$corpus" seeds/cookie_verify -- \
            -max_total_time="$FUZZ_SECONDS" -print_final_stats=1
}
suite "fuzz: cookie parsing + verification (${FUZZ_SECONDS} s, no sanitizer)" fuzz
require_in_log "fuzz: cookie parsing + verification (${FUZZ_SECONDS} s, no sanitizer)" '^Done [0-9]+ runs'

# ---------------------------------------------------------------- summary
say "summary"
for s in "${PASSED[@]}"; do echo "  ok      $s"; done
for s in "${FAILED[@]}"; do echo "  FAILED  $s"; done
echo "suites: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
