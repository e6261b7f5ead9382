//! Real audio for the tests and the benchmarks, made by Debian's ffmpeg, and
//! the reference decode wavekeep's own decoding is measured against (a bare
//! symphonia loop that counts frames). Shared by `tests/api` and
//! `bench/media.rs`, so there is one copy of each.

use std::path::Path;
use std::process::Command;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// Whether ffmpeg runs here. Where the test command installed it
/// (`WAVEKEEP_TEST_REQUIRE_CLIENTS`), its absence is a failure, never a skip.
#[allow(dead_code, reason = "not every user of this module needs it")]
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_none(),
        "ffmpeg is required (WAVEKEEP_TEST_REQUIRE_CLIENTS is set)"
    );
    if !ok {
        eprintln!("ffmpeg not found; skipping");
    }
    ok
}

/// Runs ffmpeg quietly with `args` (overwriting its output); panics with
/// what ffmpeg said when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `out` from `secs` seconds of a `freq` Hz sine at 44.1 kHz (ffmpeg's
/// default amplitude, 1/8), encoded with the output arguments `args`. The
/// file appears whole or not at all (written beside, then renamed).
pub fn sine(out: &Path, secs: f64, freq: u32, args: &[&str]) {
    let source = format!("sine=frequency={freq}:sample_rate=44100:duration={secs}");
    make(out, &source, args);
}

/// Writes `out` from the lavfi `source`, encoded with `args`, whole or not
/// at all (written beside, then renamed).
fn make(out: &Path, source: &str, args: &[&str]) {
    // Tests run in parallel threads and may make the same file at once: each
    // writes its own temporary name (process and call) and the renames race
    // harmlessly, since both make identical bytes.
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("x");
    let tmp = out.with_extension(format!("{}-{call}.tmp.{ext}", std::process::id()));
    let tmp_s = tmp.to_string_lossy().into_owned();
    let mut all = vec!["-f", "lavfi", "-i", source];
    all.extend_from_slice(args);
    all.push(&tmp_s);
    ffmpeg(&all);
    std::fs::rename(&tmp, out).expect("rename the made file");
}

/// The reference decode: a bare symphonia loop that only counts frames (it
/// stops at the first error, e.g. the end of a truncated file). `gapless`
/// applies the encoder's delay and padding trims.
pub fn count_frames(path: &Path, gapless: bool) -> u64 {
    let file = std::fs::File::open(path).expect("open");
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut reader = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("probe");
    let track = reader.default_track(TrackType::Audio).expect("track");
    let id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .expect("audio")
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(gapless))
        .expect("decoder");
    let mut frames = 0u64;
    while let Ok(Some(packet)) = reader.next_packet() {
        if packet.track_id != id {
            continue;
        }
        if let Ok(buf) = decoder.decode(&packet) {
            frames += buf.frames() as u64;
        }
    }
    frames
}

/// Writes `out` (`secs` long, 44.1 kHz stereo, encoded with `args`) in which
/// each `(start, length, hz)` is a tone at a quarter of full scale and the
/// rest is silence: "speech" whose every word and time a test knows.
#[allow(dead_code, reason = "not every user of this module needs it")]
pub fn spoken(out: &Path, secs: f64, tones: &[(f64, f64, u32)], args: &[&str]) {
    let expr = if tones.is_empty() {
        "0".to_string()
    } else {
        tones
            .iter()
            .map(|(at, len, hz)| format!("0.25*sin(2*PI*{hz}*t)*between(t,{at},{})", at + len))
            .collect::<Vec<_>>()
            .join("+")
    };
    let source = format!("aevalsrc='{expr}':s=44100:c=stereo:d={secs}");
    make(out, &source, args);
}
