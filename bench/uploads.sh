#!/usr/bin/env bash
# Upload benchmark: 100 concurrent clients × 1 MB against the release
# wavekeep (machine API multipart, and tus with tus-js-client), and the same
# tus client against the tus reference server for Node (@tus/server +
# @tus/file-store) in the same run; then the same three loads from a Rust
# driver (bench/upload_drive.rs). Prints latency, throughput and wavekeep's
# peak RSS.
#   bench/uploads.sh            (CLIENTS=100 SIZE=1048576 by default)
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
command -v node >/dev/null || apt_install nodejs npm
(cd bench/uploads && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
cargo build --release -p server --bin wavekeep
cargo bench --no-run -q -p server --bench upload_drive
BIN="$TARGET_DIR/release/wavekeep"
# The Rust driver (bench/upload_drive.rs), run through cargo so it is found wherever it was built.
rust_drive() { cargo bench -q -p server --bench upload_drive -- "$@"; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ref_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export WAVEKEEP_DATA_DIR="$work/data" WAVEKEEP_LOG=warn WAVEKEEP_ADDR="127.0.0.1:$port" \
  WAVEKEEP_API_RATE_PER_MINUTE=100000 WAVEKEEP_API_RATE_BURST=100000
echo "correct horse battery staple" | "$BIN" create-admin --email bench@example.com >/dev/null 2>&1
KEY=$("$BIN" api-key create --email bench@example.com --name bench 2>/dev/null)
"$BIN" serve >"$work/server.log" 2>&1 &
pid=$!
mkdir -p "$work/ref"
node bench/uploads/tus-reference.mjs "$ref_port" "$work/ref" >"$work/ref.log" 2>&1 &
ref=$!
trap 'kill $pid $ref 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5

echo "== uploads: ${CLIENTS:-100} concurrent clients × ${SIZE:-1048576} bytes (loopback, $(nproc) cores)"
echo "wavekeep, machine API (multipart):   $(node bench/uploads/drive.mjs multipart "http://127.0.0.1:$port/api/v1/tracks" "$KEY")"
echo "wavekeep, tus (tus-js-client):       $(node bench/uploads/drive.mjs tus "http://127.0.0.1:$port/api/uploads" "$KEY")"
echo "@tus/server + file-store (same client): $(node bench/uploads/drive.mjs tus "http://127.0.0.1:$ref_port/files")"
echo "-- the same loads from the Rust driver (little client CPU: the server's own pace)"
echo "wavekeep, machine API (multipart):   $(rust_drive multipart "http://127.0.0.1:$port/api/v1/tracks" "$KEY")"
echo "wavekeep, tus:                       $(rust_drive tus "http://127.0.0.1:$port/api/uploads" "$KEY")"
echo "@tus/server + file-store (same client): $(rust_drive tus "http://127.0.0.1:$ref_port/files")"
echo "wavekeep peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
