//! Exact facts per format and container: MP3 (CBR, VBR with and without
//! a Xing/LAME header, 48 kHz), FLAC, WAV, Ogg Vorbis, AAC (MP4, ADTS),
//! ALAC and more; and the decoders' timings against a bare decode.

use std::time::Instant;

use server::media::analyze::{probe, waveform};

use crate::ffmpeg::{count_frames, have_ffmpeg};

use super::*;

#[test]
fn mp3_cbr() {
    if !have_ffmpeg() {
        return;
    }
    let info = check_format(
        "cbr.mp3",
        7.3,
        &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"],
        44100,
        2,
        "mp3",
        "mp3",
        None,
    );
    let kbps = info.bitrate.unwrap_or(0) / 1000;
    assert!((120..=140).contains(&kbps), "bitrate {kbps} kbit/s");
}

#[test]
fn mp3_vbr_without_xing_header() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "vbr.mp3",
        7.3,
        &["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"],
        44100,
        1,
        "mp3",
        "mp3",
        None,
    );
}

#[test]
fn mp3_vbr_with_lame_tag_is_gapless() {
    if !have_ffmpeg() {
        return;
    }
    let info = check_format(
        "lame.mp3",
        7.3,
        &["-c:a", "libmp3lame", "-q:a", "4"],
        44100,
        1,
        "mp3",
        "mp3",
        None,
    );
    // Encoder delay and padding are removed: exact to a few samples.
    assert!(
        info.frames.abs_diff(321_930) < 100,
        "frames {}",
        info.frames
    );
}

#[test]
fn mp3_at_48k_stereo() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "48k.mp3",
        3.05,
        &[
            "-ar",
            "48000",
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "192k",
            "-write_xing",
            "0",
        ],
        48000,
        2,
        "mp3",
        "mp3",
        None,
    );
}

#[test]
fn flac_24_bit() {
    if !have_ffmpeg() {
        return;
    }
    let info = check_format(
        "x.flac",
        7.3,
        &[
            "-ac",
            "2",
            "-sample_fmt",
            "s32",
            "-bits_per_raw_sample",
            "24",
            "-c:a",
            "flac",
        ],
        44100,
        2,
        "flac",
        "flac",
        Some(24),
    );
    assert_eq!(info.frames, 321_930);
}

#[test]
fn wav_16_bit_stereo() {
    if !have_ffmpeg() {
        return;
    }
    let info = check_format(
        "x.wav",
        7.3,
        &["-ac", "2", "-c:a", "pcm_s16le"],
        44100,
        2,
        "pcm_s16le",
        "wav",
        Some(16),
    );
    assert_eq!(info.frames, 321_930);
    assert_eq!(info.bitrate, Some(44100 * 2 * 16));
}

#[test]
fn wav_float_and_24_bit() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "f.wav",
        2.5,
        &["-c:a", "pcm_f32le"],
        44100,
        1,
        "pcm_f32le",
        "wav",
        Some(32),
    );
    check_format(
        "s24.wav",
        2.5,
        &["-ar", "96000", "-c:a", "pcm_s24le"],
        96000,
        1,
        "pcm_s24le",
        "wav",
        Some(24),
    );
}

#[test]
fn ogg_vorbis() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "x.ogg",
        7.3,
        &["-ac", "2", "-c:a", "libvorbis", "-q:a", "4"],
        44100,
        2,
        "vorbis",
        "ogg",
        None,
    );
}

/// Opus, as voice memos, podcasts and browsers' own recordings have it: in
/// Ogg (its pre-skip trimmed: the exact length) and in WebM.
#[test]
fn opus_in_ogg_and_webm() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "memo.opus",
        7.3,
        &["-c:a", "libopus", "-b:a", "48k"],
        48000,
        1,
        "opus",
        "ogg",
        None,
    );
    check_format(
        "recording.webm",
        3.3,
        &["-ac", "2", "-c:a", "libopus", "-b:a", "96k"],
        48000,
        2,
        "opus",
        "mkv",
        None,
    );
}

#[test]
fn m4a_aac() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "x.m4a",
        7.3,
        &["-ac", "2", "-c:a", "aac", "-b:a", "128k"],
        44100,
        2,
        "aac",
        "mp4",
        None,
    );
}

#[test]
fn adts_aac() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "x.aac",
        4.2,
        &["-c:a", "aac", "-b:a", "96k"],
        44100,
        1,
        "aac",
        "adts",
        None,
    );
}

#[test]
fn m4a_alac() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "alac.m4a",
        7.3,
        &["-ac", "2", "-c:a", "alac"],
        44100,
        2,
        "alac",
        "mp4",
        Some(16),
    );
}

#[test]
fn other_containers() {
    if !have_ffmpeg() {
        return;
    }
    check_format(
        "x.webm",
        3.3,
        &["-c:a", "libvorbis"],
        44100,
        1,
        "vorbis",
        "mkv",
        None,
    );
    check_format(
        "x.mka",
        3.3,
        &["-ac", "2", "-c:a", "flac"],
        44100,
        2,
        "flac",
        "mkv",
        Some(16),
    );
    check_format(
        "frag.m4a",
        3.3,
        &["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov"],
        44100,
        1,
        "aac",
        "mp4",
        None,
    );
    check_format(
        "x.aiff",
        3.3,
        &["-c:a", "pcm_s16be"],
        44100,
        1,
        "pcm_s16be",
        "aiff",
        Some(16),
    );

    // Written to a pipe: the WAV data length and FLAC sample count are unknown.
    let dir = tempdir("pipe");
    for (name, format, rate) in [("pipe.wav", "wav", 8000u32), ("pipe.flac", "flac", 44100)] {
        let path = dir.file(name);
        let out = std::fs::File::create(&path).expect("ok");
        let rate_arg = rate.to_string();
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args([
                "sine=frequency=440:duration=3.3",
                "-ar",
                &rate_arg,
                "-f",
                format,
            ])
            .arg("pipe:1")
            .stdout(out)
            .status()
            .expect("ok");
        assert!(status.success());
        let info = probe(&path, later()).expect("ok");
        eprintln!("{name}: {info:?}");
        assert_eq!(info.frames, u64::from(rate) * 33 / 10, "{name}");
    }
}

// --- damaged and bogus input ------------------------------------------------------------

/// Timings; run with `cargo test --release -- --nocapture timings`.
#[test]
fn timings() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempdir("timing");
    for (name, extra) in [
        (
            "t.mp3",
            &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k"][..],
        ),
        ("t.flac", &["-ac", "2", "-c:a", "flac"][..]),
        ("t.wav", &["-ac", "2", "-c:a", "pcm_s16le"][..]),
        ("t.ogg", &["-ac", "2", "-c:a", "libvorbis"][..]),
        ("t.m4a", &["-ac", "2", "-c:a", "aac"][..]),
    ] {
        let path = dir.file(name);
        make(&path, 10.0, extra);
        // Best of several runs (the file is in the page cache after the first).
        let best = |runs: u32, work: &mut dyn FnMut()| {
            (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    work();
                    start.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let probe_time = best(20, &mut || {
            probe(&path, later()).expect("ok");
        });
        let wave_time = best(5, &mut || {
            waveform(&path, 256, 1000, later(), &mut |_| {}).expect("ok");
        });
        let mut frames = 0;
        let plain_time = best(5, &mut || frames = count_frames(&path, false));
        eprintln!(
            "TIMING {name}: probe {probe_time:?}, waveform {wave_time:?}, \
             plain decode loop {plain_time:?} ({frames} frames)"
        );
    }
}
