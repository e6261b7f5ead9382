#!/usr/bin/env bash
# `wavekeep import` (issue 21): files/s for a folder of FILES small audio
# files (0.5 s 8 kHz mono WAV, distinct content, in 20 nested folders),
# imported into a fresh SQLite store with --jobs 1 and --jobs 2, then the
# same folder again (everything already there: hashing and skipping only).
#   bash bench/import.sh           (FILES=2000)
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
cargo build --release -q -p server --bin wavekeep
BIN="$TARGET_DIR/release/wavekeep"
files=${FILES:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/folder" "$files" <<'PY'
import math, os, struct, sys
root, n = sys.argv[1], int(sys.argv[2])
rate, frames = 8000, 4000
for i in range(n):
    d = os.path.join(root, f"set-{i % 20:02d}")
    os.makedirs(d, exist_ok=True)
    f = 200 + i
    data = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * f * t / rate))) for t in range(frames))
    head = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(data))
    with open(os.path.join(d, f"take-{i:05d}.wav"), "wb") as out:
        out.write(head + data)
PY
echo "== import: $files files of $(du -sh "$work/folder" | cut -f1) ($(nproc) cores, SQLite)"
for jobs in 1 2; do
  data="$work/data-$jobs"
  mkdir -p "$data"
  export WAVEKEEP_DATA_DIR="$data" WAVEKEEP_LOG=warn WAVEKEEP_QUOTA_MB=100000
  echo "correct horse battery staple" | "$BIN" create-admin --email bench@example.com >/dev/null 2>&1
  start=$(date +%s.%N)
  "$BIN" import "$work/folder" --email bench@example.com --jobs "$jobs" 2>"$work/log-$jobs" >/dev/null
  end=$(date +%s.%N)
  again_start=$(date +%s.%N)
  "$BIN" import "$work/folder" --email bench@example.com --jobs "$jobs" 2>"$work/again-$jobs" >/dev/null
  again_end=$(date +%s.%N)
  python3 -c "import sys; f=$files; a=$end-$start; b=$again_end-$again_start; print(f'--jobs $jobs: {f/a:.0f} files/s ({a:.1f} s); again (all already there): {f/b:.0f} files/s ({b:.1f} s)')"
  tail -1 "$work/log-$jobs"
done
