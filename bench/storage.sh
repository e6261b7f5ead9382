#!/usr/bin/env bash
# Storage benchmark (issue 20): the same uploads against
#   1. one wavekeep on the local disk,
#   2. one wavekeep on S3 (SeaweedFS on loopback, started as the tests do),
#   3. two wavekeep instances on S3 and one PostgreSQL, the clients spread
#      round robin over them (a balancer without sticky sessions),
# each on a scratch PostgreSQL database: 100 × 1 MiB and 10 × 100 MiB through
# the machine API (multipart), 100 × 1 MiB through tus (creation + one
# PATCH) and 10 × 100 MiB through tus in 10 MiB PATCHes, each PATCH sent to
# the next instance (with two, every upload alternates), with the Rust driver
# (bench/upload_drive.rs). Prints success, p95 and MB/s side by side.
# Then a browse run: 16 clients for SECS seconds over the listing, tracks
# and 256 KiB ranges of their files (signed links), spread the same way.
#   bash bench/storage.sh          (SMALL=100 LARGE=10 LARGE_MB=100 SECS=10)
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
ensure_s3
PG=${WAVEKEEP_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
cargo build --release -q -p server --bin wavekeep
cargo bench --no-run -q -p server --bench upload_drive
BIN="$TARGET_DIR/release/wavekeep"
drive() { cargo bench -q -p server --bench upload_drive -- "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# run NAME STORAGE INSTANCES: a scratch database, the instances, the loads.
run() {
  local name=$1 storage=$2 n=$3 db="wk_bench_storage_$$_$1" urls=() i port
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db" >/dev/null
  local url="${PG%/*}/$db"
  export DATABASE_URL=$url WAVEKEEP_LOG=warn WAVEKEEP_STORAGE=$storage \
    WAVEKEEP_API_RATE_PER_MINUTE=1000000 WAVEKEEP_API_RATE_BURST=1000000 \
    WAVEKEEP_UPLOAD_MAX_MB=200 WAVEKEEP_QUOTA_MB=100000 \
    WAVEKEEP_S3_ENDPOINT=$WAVEKEEP_TEST_S3_ENDPOINT WAVEKEEP_S3_REGION=us-east-1 \
    WAVEKEEP_S3_ACCESS_KEY_ID=$WAVEKEEP_TEST_S3_ACCESS_KEY_ID \
    WAVEKEEP_S3_SECRET_ACCESS_KEY=$WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY WAVEKEEP_S3_ALLOW_HTTP=true
  mkdir -p "$work/$name-0"
  echo "correct horse battery staple" |
    WAVEKEEP_DATA_DIR="$work/$name-0" "$BIN" create-admin --email bench@example.com >/dev/null 2>&1
  local key
  key=$(WAVEKEEP_DATA_DIR="$work/$name-0" "$BIN" api-key create --email bench@example.com --name bench 2>/dev/null)
  for i in $(seq 0 $((n - 1))); do
    port=$(free_port)
    mkdir -p "$work/$name-$i"
    WAVEKEEP_DATA_DIR="$work/$name-$i" WAVEKEEP_ADDR="127.0.0.1:$port" \
      "$BIN" serve >"$work/$name-$i.log" 2>&1 &
    pids+=($!)
    urls+=("http://127.0.0.1:$port")
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local api tus
  api=$(printf '%s/api/v1/tracks,' "${urls[@]}")
  tus=$(printf '%s/api/uploads,' "${urls[@]}")
  printf '%-34s %s\n' "$name: multipart ${SMALL:-100} × 1 MiB" \
    "$(CLIENTS=${SMALL:-100} SIZE=1048576 drive multipart "${api%,}" "$key")"
  printf '%-34s %s\n' "$name: tus ${SMALL:-100} × 1 MiB" \
    "$(CLIENTS=${SMALL:-100} SIZE=1048576 drive tus "${tus%,}" "$key")"
  printf '%-34s %s\n' "$name: multipart ${LARGE:-10} × ${LARGE_MB:-100} MiB" \
    "$(CLIENTS=${LARGE:-10} SIZE=$((${LARGE_MB:-100} * 1048576)) drive multipart "${api%,}" "$key")"
  printf '%-34s %s\n' "$name: tus ${LARGE:-10} × ${LARGE_MB:-100} MiB in 10 MiB" \
    "$(CLIENTS=${LARGE:-10} SIZE=$((${LARGE_MB:-100} * 1048576)) CHUNK=10485760 drive tus "${tus%,}" "$key")"
  printf '%-34s %s\n' "$name: browse ${SECS:-10} s" \
    "$(CLIENTS=16 SECS=${SECS:-10} drive browse "$(printf '%s,' "${urls[@]}" | sed 's/,$//')" "$key")"
  local rss=""
  for p in "${pids[@]}"; do
    [ -r "/proc/$p/status" ] && rss="$rss $(awk '/VmHWM/ {printf "%.0fMiB", $2/1024}' "/proc/$p/status")"
  done
  echo "$name: peak RSS per instance:$rss"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

echo "== storage: uploads on the local disk, on S3, and on two instances over S3 ($(nproc) cores, loopback)"
run local local 1
run s3 "s3://$WAVEKEEP_TEST_S3_BUCKET/bench-$$" 1
run s3x2 "s3://$WAVEKEEP_TEST_S3_BUCKET/bench2-$$" 2
