//! Waveforms of real files: symmetric sines, channels mixed to mono, and
//! the caller's deadline.

use std::time::Instant;

use server::media::analyze::{probe, waveform, MediaError};

use crate::ffmpeg::have_ffmpeg;

use super::*;

#[test]
fn waveform_of_a_sine_is_symmetric() {
    const QUAD: &str = "asplit=4[a][b][c][d];[a][b][c][d]amerge=inputs=4";
    if !have_ffmpeg() {
        return;
    }
    let dir = tempdir("wave");
    for (name, extra) in [
        ("s.wav", &["-c:a", "pcm_s16le"][..]),
        ("s.flac", &["-c:a", "flac"][..]),
        ("s.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"][..]),
        ("s.ogg", &["-c:a", "libvorbis"][..]),
        ("s.m4a", &["-c:a", "aac", "-b:a", "192k"][..]),
        ("alac.m4a", &["-c:a", "alac"][..]),
        ("alac24.m4a", &["-c:a", "alac", "-sample_fmt", "s32p"][..]),
        (
            "s24.flac",
            &[
                "-sample_fmt",
                "s32",
                "-bits_per_raw_sample",
                "24",
                "-c:a",
                "flac",
            ][..],
        ),
        ("s24.wav", &["-c:a", "pcm_s24le"][..]),
        // More than two channels (the sine in each): the mixed paths.
        ("quad.wav", &["-af", QUAD, "-c:a", "pcm_s16le"][..]),
        ("quad.flac", &["-af", QUAD, "-c:a", "flac"][..]),
        ("u8.wav", &["-c:a", "pcm_u8"][..]),
        ("f64.wav", &["-c:a", "pcm_f64le"][..]),
    ] {
        let path = dir.file(name);
        make(&path, 2.0, extra);
        let info = probe(&path, later()).expect("ok");
        let mut calls = Vec::new();
        let (overview, fine) =
            waveform(&path, 256, 100, later(), &mut |p| calls.push(p)).expect("ok");

        let pairs = fine.data.len() / 2;
        let expected = info.frames.div_ceil(256) as usize;
        assert!(
            pairs.abs_diff(expected) <= 1,
            "{name}: {pairs} pairs, expected {expected}"
        );
        assert_eq!(fine.sample_rate, 44100);
        assert_eq!(fine.samples_per_pixel, 256);

        // Amplitude 1/8 -> about 16 of 128; skip the edges (fade-in/out of lossy codecs).
        let inner = &fine.data[20..fine.data.len() - 20];
        let max = inner.iter().skip(1).step_by(2).copied().max().expect("ok");
        let min = inner.iter().step_by(2).copied().min().expect("ok");
        eprintln!("{name}: {pairs} pairs, min {min} max {max}");
        assert!((14..=18).contains(&max), "{name}: max {max}");
        assert!((-18..=-14).contains(&min), "{name}: min {min}");
        assert!(
            (i32::from(max) + i32::from(min)).abs() <= 1,
            "{name}: not symmetric"
        );
        for pair in inner.chunks(2) {
            assert!(pair[0] < 0 && pair[1] > 0, "{name}: flat bucket {pair:?}");
        }

        // Overview: at most 100 pairs, merged by ceil(pairs / 100).
        let factor = pairs.div_ceil(100);
        assert_eq!(overview.samples_per_pixel as usize, 256 * factor);
        assert_eq!(overview.data.len() / 2, pairs.div_ceil(factor));
        assert!(overview.data.len() / 2 <= 100);

        // Progress: starts at 0, ends at 100, increasing, bounded.
        assert_eq!(calls.first(), Some(&0), "{name}");
        assert_eq!(calls.last(), Some(&100), "{name}");
        assert!(calls.windows(2).all(|w| w[0] < w[1]), "{name}: {calls:?}");
        assert!(calls.len() <= 101);
    }
}

#[test]
fn waveform_mixes_channels_to_mono() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempdir("mix");
    let opposite = dir.file("opposite.wav");
    ffmpeg_to(
        &[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=0.5*sin(440*2*PI*t)|-0.5*sin(440*2*PI*t):s=44100:d=1",
            "-c:a",
            "pcm_s16le",
        ],
        &opposite,
    );
    let (_, fine) = waveform(&opposite, 512, 10, later(), &mut |_| {}).expect("ok");
    assert!(
        fine.data.iter().all(|v| v.abs() <= 1),
        "{:?}",
        &fine.data[..10]
    );

    let left_only = dir.file("left.wav");
    ffmpeg_to(
        &[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=0.5*sin(440*2*PI*t)|0:s=44100:d=1",
            "-c:a",
            "pcm_s16le",
        ],
        &left_only,
    );
    let (_, fine) = waveform(&left_only, 512, 10, later(), &mut |_| {}).expect("ok");
    let max = fine.data.iter().copied().max().expect("ok");
    let min = fine.data.iter().copied().min().expect("ok");
    assert_eq!((min, max), (-32, 32));
}

#[test]
fn deadline_is_respected() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempdir("deadline");
    let path = dir.file("x.mp3");
    make(&path, 5.0, &["-c:a", "libmp3lame"]);
    let past = Instant::now();
    assert!(matches!(probe(&path, past), Err(MediaError::TimedOut)));
    assert!(matches!(
        waveform(&path, 256, 10, past, &mut |_| {}),
        Err(MediaError::TimedOut)
    ));
    assert_eq!(MediaError::TimedOut.to_string(), "decoding took too long");
}
