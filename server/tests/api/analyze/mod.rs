//! The decoders on real files made by ffmpeg and on damaged ones: exact
//! durations and facts per format, waveforms, errors that read well, time
//! limits (moved from `media/analyze`, which keeps its unit tests).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use server::media::analyze::{probe, waveform, AudioInfo, MediaError};

use crate::ffmpeg::{ffmpeg, sine};

mod damaged;
mod formats;
mod fuzzed;
mod waveforms;

/// A temporary folder (removed at the end of the test) with a file helper.
pub struct Dir(tempfile::TempDir);

pub fn tempdir(_tag: &str) -> Dir {
    Dir(tempfile::tempdir().expect("temp dir"))
}

impl Dir {
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// Writes `seconds` of a 440 Hz sine encoded with `extra`.
pub fn make(path: &Path, seconds: f64, extra: &[&str]) {
    sine(path, seconds, 440, extra);
}

/// Runs ffmpeg with `args` followed by the output path.
pub fn ffmpeg_to(args: &[&str], out: &Path) {
    let out = out.to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.push(&out);
    ffmpeg(&all);
}

pub fn later() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Generates a file from a 440 Hz sine and checks what `probe` reports about it.
#[allow(clippy::too_many_arguments)]
pub fn check_format(
    name: &str,
    seconds: f64,
    extra: &[&str],
    sample_rate: u32,
    channels: u16,
    codec: &str,
    container: &str,
    bit_depth: Option<u16>,
) -> AudioInfo {
    let dir = tempdir("fmt");
    let path = dir.file(name);
    make(&path, seconds, extra);

    let info = probe(&path, later()).expect("ok");
    eprintln!("{name}: {info:?}");
    let got = info.duration_ms as f64 / 1000.0;
    assert!(
        (got - seconds).abs() < 0.1,
        "{name}: duration {got} s, expected {seconds} s"
    );
    assert_eq!(info.sample_rate, sample_rate, "{name}");
    assert_eq!(info.channels, channels, "{name}");
    assert_eq!(info.codec, codec, "{name}");
    assert_eq!(info.container, container, "{name}");
    assert_eq!(info.bit_depth, bit_depth, "{name}");
    assert!(info.bitrate.is_some_and(|b| b > 0), "{name}: bitrate");
    let frames_ms = info.frames as f64 * 1000.0 / f64::from(info.sample_rate);
    assert!(
        (frames_ms - info.duration_ms as f64).abs() <= 1.0,
        "{name}: frames vs ms"
    );
    info
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

pub fn assert_err(path: &Path) -> MediaError {
    let err = probe(path, later()).expect_err("probe should fail");
    eprintln!("{}: {err}", path.display());
    assert!(!matches!(err, MediaError::TimedOut));
    let mut calls = 0;
    let wf = waveform(path, 256, 100, later(), &mut |_| calls += 1);
    assert!(wf.is_err(), "waveform should fail for {}", path.display());
    err
}

pub fn wav_header(data_len: u32, riff_len: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&riff_len.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&2u16.to_le_bytes()); // channels
    h.extend_from_slice(&44100u32.to_le_bytes());
    h.extend_from_slice(&(44100u32 * 4).to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes()); // block align
    h.extend_from_slice(&16u16.to_le_bytes()); // bits
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

pub fn truncate_copy(src: &Path, dst: &Path, fraction: f64) -> usize {
    let bytes = std::fs::read(src).expect("ok");
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..keep]).expect("ok");
    keep
}

pub fn seconds(info: &AudioInfo) -> f64 {
    info.duration_ms as f64 / 1000.0
}
