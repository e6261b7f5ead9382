//! Real audio made by real encoders (Debian's ffmpeg), generated once per
//! test process, plus the malformed files the server must survive.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fn dir() -> &'static Path {
    DIR.get_or_init(|| tempfile::tempdir().expect("fixture dir"))
        .path()
}

/// `name` (e.g. `tone-3s.mp3`) made from a 440 Hz tone of `secs` seconds
/// with the given ffmpeg output arguments; cached for the process.
pub fn tone(name: &str, secs: f64, args: &[&str]) -> PathBuf {
    let path = dir().join(name);
    if !path.exists() {
        crate::ffmpeg::sine(&path, secs, 440, args);
    }
    path
}

pub fn mp3(secs: f64) -> PathBuf {
    tone(
        &format!("tone-{secs}.mp3"),
        secs,
        &["-c:a", "libmp3lame", "-b:a", "128k"],
    )
}

pub fn wav(secs: f64) -> PathBuf {
    tone(
        &format!("tone-{secs}.wav"),
        secs,
        &["-c:a", "pcm_s16le", "-ac", "2"],
    )
}

pub fn flac(secs: f64) -> PathBuf {
    tone(&format!("tone-{secs}.flac"), secs, &["-c:a", "flac"])
}

/// A malformed input and the name it is uploaded under.
pub fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let mut random = vec![0u8; 64 * 1024];
    for b in random.iter_mut() {
        *b = rand::random();
    }
    let full = std::fs::read(mp3(3.0)).expect("mp3");
    let truncated = full[..full.len() / 3].to_vec();
    // A RIFF/WAVE header claiming 4 GB of 16-bit stereo data, and no data.
    let mut wav4g = Vec::new();
    wav4g.extend_from_slice(b"RIFF");
    wav4g.extend_from_slice(&u32::MAX.to_le_bytes());
    wav4g.extend_from_slice(b"WAVEfmt ");
    wav4g.extend_from_slice(&16u32.to_le_bytes());
    wav4g.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav4g.extend_from_slice(&2u16.to_le_bytes()); // channels
    wav4g.extend_from_slice(&44_100u32.to_le_bytes());
    wav4g.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    wav4g.extend_from_slice(&4u16.to_le_bytes());
    wav4g.extend_from_slice(&16u16.to_le_bytes());
    wav4g.extend_from_slice(b"data");
    wav4g.extend_from_slice(&(u32::MAX - 36).to_le_bytes());
    vec![
        ("random.mp3", random),
        (
            "page.mp3",
            b"<!doctype html><html><body><h1>Not audio</h1></body></html>\n".to_vec(),
        ),
        ("truncated.mp3", truncated),
        ("huge-header.wav", wav4g),
    ]
}
