#!/usr/bin/env bash
# Media benchmark (metadata vs ffprobe, waveform vs bare decode and ffmpeg).
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
apt_install ffmpeg
cargo bench -q -p server --bench media
