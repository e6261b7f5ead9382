#!/usr/bin/env bash
# Seed 004's stress test against rdio-scanner's call-upload API (issue 21):
# the release binary (SQLite in its data dir, or PostgreSQL with
# WAVEKEEP_BENCH_PG_URL), 25 then 100 concurrent uploaders posting realistic
# calls (5–30 s, 8/16 kHz mono WAV, trunk-recorder's fields) for SECS seconds
# each (bench/call_drive.rs); success, avg / p95, calls/s, and the server's
# RSS before and after. MINUTES=10 adds a long run at 25 uploaders for the
# RSS growth per hour, each sending a call every PACE_MS (default 2000: a
# busy system's load that the decode jobs keep up with, so the process can
# reach a steady state), measured after a 2-minute warm-up.
#   bash bench/calls.sh            (SECS=60 MINUTES=0)
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
cargo build --release -q -p server --bin wavekeep
cargo bench --no-run -q -p server --bench call_drive
BIN="$TARGET_DIR/release/wavekeep"
drive() { cargo bench -q -p server --bench call_drive -- "$@"; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  # What the server said went wrong, if anything (the log goes with $work).
  if grep -q "ERROR" "$work/server.log" 2>/dev/null; then
    echo "server errors (last 20):"
    grep "ERROR" "$work/server.log" | tail -20
  fi
  rm -rf "$work"
}
trap cleanup EXIT
export WAVEKEEP_DATA_DIR="$work" WAVEKEEP_LOG=warn WAVEKEEP_QUOTA_MB=1000000
if [ -n "${WAVEKEEP_BENCH_PG_URL:-}" ]; then
  db="wk_bench_calls_$$"
  psql "$WAVEKEEP_BENCH_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
  export DATABASE_URL="${WAVEKEEP_BENCH_PG_URL%/*}/$db"
fi
echo "correct horse battery staple" | "$BIN" create-admin --email bench@example.com >/dev/null 2>&1
key=$("$BIN" api-key create --email bench@example.com --name scanner 2>/dev/null)
WAVEKEEP_ADDR="127.0.0.1:$port" "$BIN" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$pid/status"; }
backend=SQLite
[ -n "${DATABASE_URL:-}" ] && backend=PostgreSQL
echo "== calls: rdio-scanner call upload ($(nproc) cores, $backend, loopback)"
echo "server RSS at start: $(rss) MiB"
for n in 25 100; do
  printf '%-16s %s\n' "$n uploaders:" "$(CLIENTS=$n SECS=${SECS:-60} drive "http://127.0.0.1:$port" "$key")"
  echo "server RSS after: $(rss) MiB"
done
if [ "${MINUTES:-0}" -gt 0 ]; then
  pace=${PACE_MS:-2000}
  # Let the burst runs' queue drain, then warm up at the steady pace.
  for _ in $(seq 1 600); do
    q=$(curl -fs "http://127.0.0.1:$port/api/queue-status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queueLength"])')
    [ "$q" -eq 0 ] && break
    sleep 1
  done
  printf '%-16s %s\n' "warm-up, 25:" "$(CLIENTS=25 PACE_MS=$pace SECS=120 drive "http://127.0.0.1:$port" "$key")"
  before=$(rss)
  printf '%-16s %s\n' "long, 25:" "$(CLIENTS=25 PACE_MS=$pace SECS=$((MINUTES * 60)) drive "http://127.0.0.1:$port" "$key")"
  after=$(rss)
  echo "queue at the end: $(curl -fs "http://127.0.0.1:$port/api/queue-status")"
  echo "server RSS over ${MINUTES} min at one call per ${pace} ms per uploader: $before → $after MiB ($(( (after - before) * 60 / MINUTES )) MiB/h extrapolated)"
fi
if [ -n "${db:-}" ]; then
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  psql "$WAVEKEEP_BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
fi
