#!/usr/bin/env bash
# Prints the release build's figures: build time (a clean build into a fresh
# target dir with --clean, otherwise the incremental one), the size of the one
# binary, and the site's wasm / js / css raw and gzipped.
#   bench/build_size.sh [--clean]
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
ensure_rust_tools
ensure_node_deps
ensure_site_deps
if [ "${1:-}" = "--clean" ]; then
  TARGET_DIR=$(mktemp -d /tmp/wavekeep-clean-target.XXXX)
  export CARGO_TARGET_DIR="$TARGET_DIR"
  rm -rf "$ROOT/target/site"
fi
start=$(date +%s)
cargo leptos build --release --frontend-only >/dev/null 2>&1
mid=$(date +%s)
cargo build --release -p server --bin wavekeep >/dev/null 2>&1
end=$(date +%s)

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
site="$ROOT/target/site/pkg"
bin="$TARGET_DIR/release/wavekeep"

echo "build: site (wasm, release + wasm-opt) $((mid - start)) s, server $((end - mid)) s, total $((end - start)) s${1:+ (clean)}"
echo "binary: $(awk -v b="$(size "$bin")" 'BEGIN { printf "%.1f MiB", b / 1048576 }') ($bin, site embedded)"
for f in wavekeep.wasm wavekeep.js wavekeep.css; do
  printf '%-14s raw %10s   gzip -9 %10s\n' "$f" "$(kib "$(size "$site/$f")")" "$(kib "$(gz "$site/$f")")"
done
