#!/usr/bin/env bash
# Prints the release build's figures: build time (a clean build into a fresh
# target dir with --clean, otherwise the incremental one), the size of the one
# binary, and the site's wasm / js / css raw and gzipped.
#   bench/build_size.sh [--clean]
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
ensure_rust_tools
ensure_node_deps
if [ "${1:-}" = "--clean" ]; then
  TARGET_DIR=$(mktemp -d /tmp/wavekeep-clean-target.XXXX)
  export CARGO_TARGET_DIR="$TARGET_DIR"
  rm -rf "$ROOT/target/site"
fi
start=$(date +%s)
build_site --release >/dev/null 2>&1
mid=$(date +%s)
cargo build --release -p server --bin wavekeep >/dev/null 2>&1
end=$(date +%s)

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
site="$ROOT/target/site/pkg"
bin="$TARGET_DIR/release/wavekeep"

echo "build: site (wasm, release + wasm-opt) $((mid - start)) s, server $((end - mid)) s, total $((end - start)) s${1:+ (clean)}"
echo "wasm built by: $SITE_TOOLCHAIN"
echo "binary: $(awk -v b="$(size "$bin")" 'BEGIN { printf "%.1f MiB", b / 1048576 }') ($bin, site embedded)"
for f in wavekeep.wasm wavekeep.js wavekeep.css; do
  printf '%-14s raw %10s   gzip -9 %10s\n' "$f" "$(kib "$(size "$site/$f")")" "$(kib "$(gz "$site/$f")")"
done
# The split build: one module per lazily loaded page plus small chunks the
# pages share. What a first visit downloads is wavekeep.wasm plus the files
# its page needs (from the manifest); the track lists need none.
if [ -e "$site/__wasm_split_manifest.json" ]; then
  python3 - "$site" <<'PY'
import json, os, re, subprocess, sys
site = sys.argv[1]
def raw(name):
    return os.path.getsize(os.path.join(site, name))
def gz(name):
    with open(os.path.join(site, name), "rb") as f:
        return len(subprocess.run(["gzip", "-9", "-c"], stdin=f, capture_output=True, check=True).stdout)
kib = lambda b: f"{b / 1024:.1f} KiB"
files = sorted(f for f in os.listdir(site) if f.endswith(".wasm"))
for f in files:
    if f.startswith("split_"):
        page = re.sub(r"^split_+|_view_\d+\.wasm$", "", f)
        print(f"{'page ' + page:<14} raw {kib(raw(f)):>10}   gzip -9 {kib(gz(f)):>10}")
shared = [f for f in files if f.startswith("chunk_")]
print(f"{'shared chunks':<14} raw {kib(sum(map(raw, shared))):>10}   gzip -9 {kib(sum(map(gz, shared))):>10}   ({len(shared)} files)")
main = gz("wavekeep.wasm")
print(f"first visit, track lists (/ and /mine): wasm gzip -9 {kib(main)}")
manifest = json.load(open(os.path.join(site, "__wasm_split_manifest.json")))
for name, needed in sorted(manifest.items()):
    page = re.sub(r"^_+|_view_\d+$", "", name)
    total = main + sum(gz(f + ".wasm") for f in needed)
    print(f"first visit, {page:<9} page: wasm gzip -9 {kib(total)} (main + {len(needed)} files)")
print(f"every wasm file together: gzip -9 {kib(sum(map(gz, files)))}")
PY
fi
