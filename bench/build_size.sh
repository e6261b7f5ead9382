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
cargo leptos build --release --frontend-only --split >/dev/null 2>&1
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
# The split build: one chunk per lazily loaded page plus chunks they share.
# What a first visit downloads is wavekeep.wasm plus the chunks its page
# needs (from the manifest); the track lists need none.
for f in "$site"/split_*.wasm "$site"/chunk_*.wasm; do
  [ -e "$f" ] || continue
  printf '%-14s raw %10s   gzip -9 %10s   %s\n' chunk "$(kib "$(size "$f")")" "$(kib "$(gz "$f")")" "$(basename "$f")"
done
if [ -e "$site/__wasm_split_manifest.json" ]; then
  python3 - "$site" <<'PY'
import gzip, json, os, sys
site = sys.argv[1]
def gz(name):
    with open(os.path.join(site, name), "rb") as f:
        return len(gzip.compress(f.read(), 9))
main = gz("wavekeep.wasm")
manifest = json.load(open(os.path.join(site, "__wasm_split_manifest.json")))
print(f"first load, track lists (/ and /mine): wasm gzip -9 {main / 1024:.1f} KiB")
for name, files in sorted(manifest.items()):
    page = name.split("_View")[0].strip("_")
    total = main + sum(gz(f + ".wasm") for f in files)
    print(f"first load, {page:<10} page: wasm gzip -9 {total / 1024:.1f} KiB (main + {len(files)} chunks)")
total = sum(gz(f) for f in os.listdir(site) if f.endswith(".wasm"))
print(f"every wasm file together: gzip -9 {total / 1024:.1f} KiB")
PY
fi
