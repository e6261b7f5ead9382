#!/usr/bin/env bash
# Listening benchmark (issue 22): the list page with and without the small
# waveforms, in one run on one machine. The release binary (SQLite in a
# fresh data dir) serves 2,000 public tracks (rows written straight into
# the database: one asset per 16 tracks, each with a small waveform made
# from real overview peaks' shape); headless Chromium measures the list
# page's LCP and CLS, the 1,000-row render after a client navigation and
# the bytes of waveform data per page (bench/browser/listening.mjs). Then
# the waveforms are removed and the same is measured again. Also the first
# wasm module, gzipped (-9), as built.
#   bash bench/listening.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
ensure_node_deps
cargo build --release -q -p server --bin wavekeep
BIN="$TARGET_DIR/release/wavekeep"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export WAVEKEEP_DATA_DIR="$work" WAVEKEEP_LOG=warn WAVEKEEP_ADDR="127.0.0.1:$port"
start() {
  "$BIN" serve >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the server did not start"; tail -20 "$work/server.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

echo "correct horse battery staple" | "$BIN" create-admin --email bench@example.com >/dev/null 2>&1
start
stop
python3 - "$work/wavekeep.db" <<'EOF'
import math, random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
random.seed(22)
owner = db.execute("SELECT MIN(id) FROM users").fetchone()[0]
assets = []
for a in range(125):
    # 64 bars shaped like music: a slow swell with some noise, 'a'..'z'.
    bars = "".join(chr(97 + max(0, min(25, int(14 + 9 * math.sin(i / 7 + a) + random.randint(-4, 4))))) for i in range(64))
    cur = db.execute(
        "INSERT INTO assets (owner_id, storage_key, size_bytes, sha256, mime, duration_ms, codec, created_at, peaks_at, metadata_at, mini_wave) "
        "VALUES (?, 'bench/none', 1000, ?, 'audio/mpeg', 180000, 'mp3', 0, 0, 0, ?)",
        (owner, f"bench{a:060d}", bars))
    assets.append(cur.lastrowid)
for k in range(2000):
    t = db.execute(
        "INSERT INTO tracks (owner_id, slug, title, tags, visibility, duration_ms, created_at, updated_at) "
        "VALUES (?, ?, ?, 'bench, waves', 'public', ?, ?, ?)",
        (owner, f"bench-{k}", f"Bench track {k:04d}", 60000 + k * 97 % 600000, 1_700_000_000_000 + k * 1000, 1_700_000_000_000 + k * 1000)).lastrowid
    v = db.execute(
        "INSERT INTO track_versions (track_id, asset_id, version_number, status, created_at) VALUES (?, ?, 1, 'ready', 0)",
        (t, assets[k % len(assets)])).lastrowid
    db.execute("UPDATE tracks SET primary_version_id = ? WHERE id = ?", (v, t))
db.commit()
EOF
echo "== listening benchmark (SQLite, 2,000 public tracks, 1,000-row page)"
echo "first wasm module: $(gzip -9 -c target/site/pkg/wavekeep.wasm | wc -c) B gzipped ($(stat -c %s target/site/pkg/wavekeep.wasm) B raw)"
start
(cd end2end && node ../bench/browser/listening.mjs "http://127.0.0.1:$port" "with waveforms")
stop
python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('UPDATE assets SET mini_wave = NULL'); db.commit()" "$work/wavekeep.db"
start
(cd end2end && node ../bench/browser/listening.mjs "http://127.0.0.1:$port" "no waveforms")
stop
