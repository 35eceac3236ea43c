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
    local log="$LOG_DIR/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log" f
    for f in "${FAILED[@]}"; do [ "$f" = "$name" ] || [ "$f" = "$name (did not run)" ] && return 0; done
    if ! grep -Eq "$regex" "$log"; then
        echo "--- $name: expected output /$regex/ missing: the suite did not really run"
        local kept=() s
        for s in "${PASSED[@]}"; do [ "$s" = "$name" ] || kept+=("$s"); done
        PASSED=("${kept[@]}")
        FAILED+=("$name (did not run)")
    fi
}

# ---------------------------------------------------------------- install
# shellcheck source=scripts/tools.sh
source "$ROOT/scripts/tools.sh"

install_tools() {
    local ok=0
    say "install: rust components and targets"; ensure_rust_targets || ok=1
    say "install: wasm-bindgen-cli at the Cargo.lock version"; ensure_wasm_bindgen || ok=1
    say "install: worker-build"; ensure_worker_build || ok=1
    say "install: Debian packages (chromium, chromedriver, redis-server)"; ensure_debian_packages || ok=1
    say "install: Node 22 and node_modules (wrangler, binaryen, @upstash/redis)"; ensure_node_modules || ok=1
    say "install: cargo-fuzz"; ensure_cargo_fuzz || ok=1
    return $ok
}

if [ "${SKIP_INSTALL:-0}" = 1 ]; then
    echo "SKIP_INSTALL=1: not installing tools"
else
    suite "install tools" install_tools
fi
# Node 22 first on PATH for wrangler (the install ran in a subshell).
ensure_node >/dev/null 2>&1 || true

# ---------------------------------------------------------------- suites
suite "cargo fmt --check" cargo fmt --all --check

suite "clippy (native, all features)" cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

suite "clippy (wasm32: core, worker adapter, demos)" cargo clippy --locked \
    -p edge-session -p edge-session-worker -p worker-demo -p bare-worker -p conformance-worker --all-targets \
    --target wasm32-unknown-unknown -- -D warnings

suite "clippy (no_std, thumbv7em)" cargo clippy -p edge-session --no-default-features --locked \
    --target thumbv7em-none-eabi -- -D warnings

docs() {
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked &&
        RUSTDOCFLAGS="-D warnings" cargo doc -p edge-session-worker --no-deps --locked \
            --target wasm32-unknown-unknown
}
suite "docs (native and wasm32, broken links denied)" docs

suite "build binaries (native-demo, upstash-emulator, benchmark servers)" cargo build --workspace --bins --locked
suite "build the worker demo (worker-build, wasm-opt)" bash scripts/build-worker.sh crates/worker-demo
suite "build the test-only conformance worker" bash scripts/build-worker.sh tests/conformance-worker

NATIVE="tests: core, tower + axum, e2e (native-demo, wrangler dev, redis-server, Redis Cluster, Upstash emulator, Chromium)"
suite "$NATIVE" env CHROMEDRIVER="$(command -v chromedriver)" WORKER_PREBUILT=1 cargo test --workspace --locked
require_in_log "$NATIVE" 'test result: ok\. [1-9][0-9]* passed'
for t in vectors::readme_cookie_format_vectors sign_verify_round_trip axum_router_flow \
    redis_down_gives_503_and_recovers_without_restart redis_cluster_store_conformance \
    chromium_keeps_and_drops_the_session_cookie \
    worker_kv_suite_and_records worker_upstash_suite_records_and_faults \
    upstash_emulator_matches_the_official_client sessions_cross_between_native_and_worker \
    worker_kv_in_chromium worker_kv_conformance_in_workerd worker_kv_race_rates \
    worker_do_conformance_and_alarm_in_workerd worker_do_in_chromium worker_do_missing_binding_is_a_clear_503 \
    worker_responses_with_the_session_cookie_are_not_cached secrets_stay_out_of_wranglers_output_and_debug \
    responses_with_the_session_cookie_are_not_cached slow_clients_are_cut_off_and_connections_capped \
    redis_url_password_stays_out_of_errors_and_debug a_rate_limited_refresh_serves_the_read_and_the_next_request_retries \
    redis_frozen_and_restarted_mid_load_lose_nothing_acknowledged worker_upstash_slow_and_failing_lose_nothing_acknowledged \
    the_layer_keeps_its_secret_out_of_debug \
    hardening::ids_not_of_the_generated_shape_never_reach_a_server_side_store \
    hardening::junk_cookies_do_not_use_up_the_candidate_budget hardening::a_dropped_call_keeps_the_session_for_a_later_clear \
    hardening::a_failed_refresh_serves_the_read_and_a_later_request_retries \
    hardening::a_response_with_the_session_cookie_is_not_stored_by_caches \
    hardening::the_memory_store_is_bounded_and_evicts_the_soonest_to_expire hardening::debug_output_never_holds_secrets_or_ids \
    stores::trait_defaults_pass_the_contract_step_by_step handle::finish_ends_every_request_shape_as_the_lifecycle_commit_does \
    handle::finish_now_gives_back_a_request_whose_session_a_handler_future_holds \
    expiry::remember_me_makes_one_session_persistent_while_others_stay_browser_session \
    expiry::idle_and_absolute_timeouts_together layer_refuses_attribute_injection_through_its_config \
    a_logout_on_a_is_never_served_by_b_1000_times a_write_on_a_is_seen_on_b_after_the_bound \
    reads_on_b_racing_writes_on_a_never_stick_10000_sessions store_misses_racing_writes_never_stick \
    the_cache_is_bounded an_expired_session_is_not_served_from_the_cache a_redis_restart_empties_the_cache \
    a_killed_tracking_connection_empties_the_cache a_silent_network_cut_stops_hits_within_the_bound \
    flushall_empties_the_cache redis_store_with_cache_conformance writes_survive_a_flushed_script_cache \
    removals_and_deletes_on_a_are_never_read_on_b loads_after_a_write_skip_the_cache_for_the_cooldown \
    write_marks_are_bounded the_longest_lifetimes_are_capped_not_refused \
    new_sessions_are_created_by_restore_and_read_back_whole create_falls_back_to_its_script_when_restore_is_refused \
    stores::dump_payload_checksum_is_redis_crc64 a_failed_restore_does_not_turn_restore_off \
    restored_records_are_what_hset_writes_in_content_encoding_and_memory every_float_survives_the_stores_json \
    the_heartbeat_pings_while_hits_flow_and_rests_when_idle random_updates_in_redis_match_apply_to \
    b64::tests::the_codec_agrees_with_the_base64_crate \
    a_requests_increments_store_what_it_saw a_requests_changes_store_what_it_saw \
    redis_store::tests::inline_key_is_the_record_key_when_it_fits \
    redis_cache::tests::session_keys_spread_over_every_shard \
    loads_of_one_session_at_the_same_time_make_one_fill \
    expiry::lifetimes_past_the_year_9999_are_capped_in_the_cookie_and_the_store; do
    require_in_log "$NATIVE" "^test $t \.\.\. ok"
done
# The HTTP behaviour suite (`route_tests!`): every case over every target.
for target in in_process_memory in_process_redis process_memory process_redis worker_upstash worker_do; do
    for case in flow bad_input login_cycles_id concurrency same_session_writes exact_increments no_races remember_me; do
        require_in_log "$NATIVE" "^test $target::$case \.\.\. ok"
    done
done
for target in in_process_cookie worker_kv; do
    for case in flow bad_input login_cycles_id concurrency remember_me; do
        require_in_log "$NATIVE" "^test $target::$case \.\.\. ok"
    done
done

# What a newcomer types first: plain `cargo test` at the root runs every suite
# that needs no external tool, and not the end-to-end crate.
plain_cargo_test() {
    local out
    out="$(cargo test --locked 2>&1)" || { echo "$out"; return 1; }
    echo "$out" | grep -E "^(test result|     Running)"
    if grep -q "Running tests/native.rs" <<<"$out"; then
        echo "plain cargo test ran the end-to-end crate: it must stay out of default-members"
        return 1
    fi
}
suite "plain cargo test at the root (no external tools needed)" plain_cargo_test
require_in_log "plain cargo test at the root (no external tools needed)" 'Running tests/core/main.rs'

# cargo verifies the packages against each other through a temporary local
# registry, and it reuses a copy of our crates that an earlier run unpacked
# from that registry into $CARGO_HOME (same name and version, old code).
# Only those copies go: the unnamed temporary registries, our crates.
package_crates() {
    rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/edge-session-0.1.0 \
        "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/edge-session-tower-0.1.0 \
        "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/edge-session-worker-0.1.0
    cargo package --locked --allow-dirty -p edge-session -p edge-session-tower -p edge-session-worker
}
suite "cargo package (edge-session, edge-session-tower, edge-session-worker)" package_crates
require_in_log "cargo package (edge-session, edge-session-tower, edge-session-worker)" 'Verifying edge-session-worker'

dev_worker_args() {
    local got
    got="$(DEV_WORKER_DRY_RUN=1 bash scripts/dev-worker.sh --port 8790 | tail -n 1)"
    echo "$got"
    [ "$got" = "npx wrangler dev --ip 127.0.0.1 --port 8790" ]
}
suite "scripts/dev-worker.sh passes its arguments through" dev_worker_args

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

fuzz_http() {
    local corpus
    corpus="$(mktemp -d "$LOG_DIR/corpus-http.XXXXXX")"
    cd crates/edge-session/fuzz &&
        cargo fuzz run -s none http_layer "$corpus" seeds/http_layer -- \
            -max_total_time="$FUZZ_SECONDS" -print_final_stats=1
}
suite "fuzz: the HTTP path through the tower layer (${FUZZ_SECONDS} s, no sanitizer)" fuzz_http
require_in_log "fuzz: the HTTP path through the tower layer (${FUZZ_SECONDS} s, no sanitizer)" '^Done [0-9]+ runs'

# A minute of mixed traffic against the native demo over Redis: no error,
# memory flat after warm-up, Redis keys bounded by the TTL (the ten-minute
# run is `bash scripts/soak.sh`; its figures are in docs/benchmarks.md).
suite "soak: 60 s of mixed traffic, native demo over Redis" env SOAK_PROFILE=debug bash scripts/soak.sh 60
require_in_log "soak: 60 s of mixed traffic, native demo over Redis" ' 0 not 200; '

# ---------------------------------------------------------------- summary
say "summary"
for s in "${PASSED[@]}"; do echo "  ok      $s"; done
for s in "${FAILED[@]}"; do echo "  FAILED  $s"; done
echo "suites: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
