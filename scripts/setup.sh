# shellcheck shell=bash
# Installs what building and testing wavekeep needs, each step only when it
# is missing: the wasm32 target, cargo-leptos (pinned), the wasm-bindgen CLI
# matching Cargo.lock, the end2end npm packages (Playwright and wasm-opt), and
# Debian packages. Sourced by scripts/run and scripts/test.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CARGO_LEPTOS_VERSION=0.3.10
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

wasm_bindgen_version() {
  awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_rust_tools() {
  if ! command -v cargo >/dev/null; then
    echo "cargo is not installed: install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
  fi
  rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown
  if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (once; about 15 minutes on 2 cores)"
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --features no_downloads
  fi
  local wb
  wb=$(wasm_bindgen_version)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
    say "installing wasm-bindgen-cli $wb (must equal Cargo.lock's wasm-bindgen)"
    # Not --locked: its lock file pins a crate release the registry no longer has.
    cargo install wasm-bindgen-cli --version "$wb" --force
  fi
}

ensure_node_deps() {
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$ROOT/end2end/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$ROOT/end2end/package-lock.json" -nt "$stamp" ] ||
    [ ! -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ]; then
    say "npm ci (Playwright test runner, binaryen's wasm-opt)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund)
  fi
  # Release builds run wasm-opt from here: Debian's binaryen is too old.
  export PATH="$ROOT/end2end/node_modules/.bin:$PATH"
}

# The browser libraries the site ships (tus-js-client), from npm into
# public/vendor, which the site build copies.
ensure_site_deps() {
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$ROOT/frontend/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$ROOT/frontend/package-lock.json" -nt "$stamp" ]; then
    say "npm ci (tus-js-client for the upload page)"
    (cd "$ROOT/frontend" && npm ci --no-audit --no-fund)
  fi
  mkdir -p "$ROOT/public/vendor"
  cp "$ROOT/frontend/node_modules/tus-js-client/dist/tus.min.js" "$ROOT/public/vendor/tus.min.js"
}

# build_site [--release]: the wasm, js, css and public/ into target/site,
# which the server binary embeds. --split puts each lazily loaded page
# (app/src/lib.rs, `lazy_page!`) into a wasm chunk of its own.
build_site() {
  ensure_site_deps
  say "building the site (cargo leptos build --frontend-only --split $*)"
  (cd "$ROOT" && cargo leptos build --frontend-only --split "$@")
}
