#!/usr/bin/env bash
# Fuzzes wavekeep's media code (probe, waveform, preview, speech chunks;
# fuzz/fuzz_targets/media.rs) with libFuzzer through cargo-fuzz, for
# FUZZ_SECS seconds (default: one hour). The corpus starts from small real
# files of every format ffmpeg here writes and the Symphonia proofs of
# concept in fuzz/seeds/. Findings land in fuzz/artifacts/media/: fix each,
# then copy it into fuzz/regressions/, where the normal suite replays it
# (server/tests/api/analyze/fuzzed.rs).
#
#   bash scripts/fuzz.sh                 # one hour
#   FUZZ_SECS=600 bash scripts/fuzz.sh   # ten minutes
source "$(dirname "$0")/setup.sh"
cd "$ROOT/fuzz"

secs=${FUZZ_SECS:-3600}
apt_install ffmpeg
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# The same crate versions as the server (cargo adds only libFuzzer's).
[ -f Cargo.lock ] || cp ../Cargo.lock Cargo.lock

corpus=corpus/media
mkdir -p "$corpus" artifacts/media
if [ -z "$(ls -A "$corpus")" ]; then
  say "seeding the corpus with small real files"
  for spec in "wav:-c:a pcm_s16le" "flac:-c:a flac" "mp3:-c:a libmp3lame -b:a 32k" \
    "ogg:-c:a libvorbis" "opus:-c:a libopus" "m4a:-c:a aac -b:a 32k" \
    "aiff:-c:a pcm_s16be" "caf:-c:a pcm_s16le" "mkv:-c:a flac" "wv:-c:a wavpack"; do
    ext=${spec%%:*}
    # shellcheck disable=SC2086
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
      -i "sine=frequency=440:sample_rate=8000:duration=0.2" ${spec#*:} "$corpus/seed.$ext" || true
  done
fi
cp -n seeds/* "$corpus/" 2>/dev/null || true

say "fuzzing for $secs s (findings in fuzz/artifacts/media/)"
# No sanitizer: the code is safe Rust; what we hunt is panics, hangs and
# runaway allocations, which libFuzzer reports by itself. Built as wavekeep
# ships (release: integer overflow wraps); FUZZ_OVERFLOW_CHECKS=1 turns
# overflow checks and debug assertions on (fuzz/upstream/ has what that
# finds in dependencies).
checks=(-O)
[ "${FUZZ_OVERFLOW_CHECKS:-0}" = 1 ] && checks=(--debug-assertions)
cargo +nightly fuzz run "${checks[@]}" --sanitizer none media "$corpus" -- \
  -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1
