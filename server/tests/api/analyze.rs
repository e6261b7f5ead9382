//! The decoders on real files made by ffmpeg and on damaged ones: exact
//! durations and facts per format, waveforms, errors that read well, time
//! limits (moved from `media/analyze`, which keeps its unit tests).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use server::media::analyze::{probe, waveform, AudioInfo, MediaError};

use crate::ffmpeg::{count_frames, ffmpeg, have_ffmpeg, sine};

/// A temporary folder (removed at the end of the test) with a file helper.
struct Dir(tempfile::TempDir);

fn tempdir(_tag: &str) -> Dir {
    Dir(tempfile::tempdir().expect("temp dir"))
}

impl Dir {
    fn file(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// Writes `seconds` of a 440 Hz sine encoded with `extra`.
fn make(path: &Path, seconds: f64, extra: &[&str]) {
    sine(path, seconds, 440, extra);
}

/// Runs ffmpeg with `args` followed by the output path.
fn ffmpeg_to(args: &[&str], out: &Path) {
    let out = out.to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.push(&out);
    ffmpeg(&all);
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Generates a file from a 440 Hz sine and checks what `probe` reports about it.
#[allow(clippy::too_many_arguments)]
fn check_format(
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

/// Deterministic pseudo-random bytes (xorshift).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn assert_err(path: &Path) -> MediaError {
    let err = probe(path, later()).expect_err("probe should fail");
    eprintln!("{}: {err}", path.display());
    assert!(!matches!(err, MediaError::TimedOut));
    let mut calls = 0;
    let wf = waveform(path, 256, 100, later(), &mut |_| calls += 1);
    assert!(wf.is_err(), "waveform should fail for {}", path.display());
    err
}

#[test]
fn bogus_inputs_are_errors() {
    let dir = tempdir("bogus");

    let empty = dir.file("empty.mp3");
    std::fs::write(&empty, b"").expect("ok");
    assert!(matches!(assert_err(&empty), MediaError::Malformed(_)));

    let html = dir.file("page.mp3");
    let page = "<!DOCTYPE html><html><head><title>Not audio</title></head><body>".to_string()
        + &"<p>Hello there, this is a web page.</p>\n".repeat(500)
        + "</body></html>";
    std::fs::write(&html, page).expect("ok");
    assert!(matches!(assert_err(&html), MediaError::Unsupported(_)));

    for (i, ext) in ["mp3", "wav", "flac", "ogg", "m4a", "aac", "bin"]
        .iter()
        .enumerate()
    {
        for (j, len) in [10usize, 4096, 300_000].iter().enumerate() {
            let path = dir.file(&format!("noise{i}{j}.{ext}"));
            std::fs::write(
                &path,
                noise(*len, 0x9E37_79B9_7F4A_7C15 + (i * 3 + j) as u64),
            )
            .expect("ok");
            assert_err(&path);
        }
    }

    let text = dir.file("short.wav");
    std::fs::write(&text, b"RIFF").expect("ok");
    assert_err(&text);

    if have_ffmpeg() {
        // Opus is a real audio format, but symphonia has no decoder for it.
        let opus = dir.file("x.opus");
        ffmpeg_to(
            &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libopus"],
            &opus,
        );
        let err = assert_err(&opus);
        assert!(
            matches!(err, MediaError::Unsupported(ref d) if d.contains("opus")),
            "{err}"
        );

        // A video file without audio.
        let video = dir.file("video.mp4");
        ffmpeg_to(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=duration=1:size=64x64",
                "-c:v",
                "mpeg4",
            ],
            &video,
        );
        assert!(matches!(assert_err(&video), MediaError::Unsupported(_)));

        // MP3 frames whose payload is noise: the headers parse, the audio does not decode.
        let good = dir.file("good.mp3");
        make(
            &good,
            3.0,
            &["-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0"],
        );
        let mut bytes = std::fs::read(&good).expect("ok");
        let junk = noise(bytes.len(), 7);
        let mut i = 0;
        while i + 4 < bytes.len() {
            // Keep frame headers (sync word 0xFFE), scramble everything else.
            if bytes[i] == 0xFF && bytes[i + 1] & 0xE0 == 0xE0 {
                i += 4;
            } else {
                bytes[i] = junk[i];
                i += 1;
            }
        }
        let scrambled = dir.file("scrambled.mp3");
        std::fs::write(&scrambled, &bytes).expect("ok");
        // probe only decodes the first packets, so it may accept this; waveform must not.
        match probe(&scrambled, later()) {
            Err(err) => eprintln!("scrambled mp3: {err}"),
            Ok(info) => eprintln!("scrambled mp3 probed as {info:?}"),
        }
        let err = waveform(&scrambled, 256, 10, later(), &mut |_| {}).expect_err("scrambled");
        eprintln!("scrambled mp3 waveform: {err}");
        assert!(matches!(err, MediaError::Malformed(_)));
    }

    let missing = dir.file("does-not-exist.mp3");
    assert!(matches!(probe(&missing, later()), Err(MediaError::Io(_))));
}

fn wav_header(data_len: u32, riff_len: u32) -> Vec<u8> {
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

#[test]
fn wav_header_claiming_4gb() {
    let dir = tempdir("wav4g");

    // Half a second of a 1 kHz square wave behind a header that claims ~4 GB.
    let mut bytes = wav_header(0xFFFF_FF00, 0xFFFF_FFF0);
    for i in 0..22050u32 {
        let v: i16 = if (i / 22) % 2 == 0 { 8000 } else { -8000 };
        for _ in 0..2 {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    let path = dir.file("liar.wav");
    std::fs::write(&path, &bytes).expect("ok");
    let info = probe(&path, later()).expect("ok");
    assert_eq!(info.frames, 22050);
    assert_eq!(info.duration_ms, 500);
    let (_, fine) = waveform(&path, 441, 10, later(), &mut |_| {}).expect("ok");
    assert_eq!(fine.data.len() / 2, 50);

    // The same header with no data at all.
    let path = dir.file("liar-empty.wav");
    std::fs::write(&path, wav_header(0xFFFF_FF00, 0xFFFF_FFF0)).expect("ok");
    assert!(matches!(assert_err(&path), MediaError::Malformed(_)));

    // A header claiming 4 GB and only a few bytes of data (less than one frame).
    let mut tiny = wav_header(0xFFFF_FF00, 0xFFFF_FFF0);
    tiny.extend_from_slice(&[1, 2, 3]);
    let path = dir.file("liar-tiny.wav");
    std::fs::write(&path, tiny).expect("ok");
    assert_err(&path);
}

fn truncate_copy(src: &Path, dst: &Path, fraction: f64) -> usize {
    let bytes = std::fs::read(src).expect("ok");
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..keep]).expect("ok");
    keep
}

fn seconds(info: &AudioInfo) -> f64 {
    info.duration_ms as f64 / 1000.0
}

#[test]
fn truncated_files_report_the_shorter_length() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempdir("trunc");
    let cases: &[(&str, &[&str])] = &[
        (
            "cbr.mp3",
            &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"],
        ),
        ("lame.mp3", &["-c:a", "libmp3lame", "-q:a", "2"]),
        (
            "vbr.mp3",
            &["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"],
        ),
        (
            "x.flac",
            &[
                "-sample_fmt",
                "s32",
                "-bits_per_raw_sample",
                "24",
                "-c:a",
                "flac",
            ],
        ),
        ("x.ogg", &["-c:a", "libvorbis", "-q:a", "4"]),
        (
            "fast.m4a",
            &["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"],
        ),
        (
            "fast-alac.m4a",
            &["-c:a", "alac", "-movflags", "+faststart"],
        ),
        ("x.aac", &["-c:a", "aac", "-b:a", "128k"]),
    ];
    for (name, extra) in cases {
        let full = dir.file(name);
        make(&full, 10.0, extra);
        let cut = dir.file(&format!("cut-{name}"));
        truncate_copy(&full, &cut, 0.5);
        let info = match probe(&cut, later()) {
            Ok(info) => info,
            // symphonia cannot read an MP4 whose 'mdat' box is cut short at all.
            Err(err) if name.ends_with(".m4a") => {
                eprintln!("truncated {name}: {err}");
                assert!(matches!(err, MediaError::Malformed(_)));
                continue;
            }
            Err(err) => panic!("truncated {name}: {err}"),
        };
        let decodable = count_frames(&cut, false) as f64 / f64::from(info.sample_rate);
        eprintln!("truncated {name}: {info:?}, decodable {decodable} s");
        let got = seconds(&info);
        assert!((2.5..7.0).contains(&got), "truncated {name}: {got} s");
        assert!(
            (got - decodable).abs() < 0.1,
            "truncated {name}: {got} vs {decodable} s"
        );

        // The waveform covers the same length.
        let (_, fine) = waveform(&cut, 441, 100, later(), &mut |_| {}).expect("ok");
        let covered = (fine.data.len() / 2) as f64 * 0.01;
        assert!(
            (covered - got).abs() < 0.15,
            "truncated {name}: waveform {covered} s"
        );
    }

    // PCM WAV cut at an odd byte: exactly the whole frames present.
    let full = dir.file("x.wav");
    make(&full, 10.0, &["-ac", "2", "-c:a", "pcm_s16le"]);
    let bytes = std::fs::read(&full).expect("ok");
    let data = bytes.windows(4).position(|w| w == b"data").expect("ok") + 8;
    let keep = data + 4 * 123_457 + 3;
    let cut = dir.file("cut.wav");
    std::fs::write(&cut, &bytes[..keep]).expect("ok");
    let info = probe(&cut, later()).expect("ok");
    assert_eq!(info.frames, 123_457);

    // An MP4 whose index ('moov') was at the end is unreadable once cut.
    let tail_moov = dir.file("tail.m4a");
    make(&tail_moov, 10.0, &["-c:a", "aac"]);
    let cut = dir.file("cut-tail.m4a");
    truncate_copy(&tail_moov, &cut, 0.5);
    let err = probe(&cut, later()).expect_err("mp4 without its index");
    eprintln!("mp4 without moov: {err}");
    assert!(matches!(err, MediaError::Malformed(_)));
}

// --- waveform -----------------------------------------------------------------------------

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

#[test]
fn error_messages_read_well() {
    assert_eq!(
        MediaError::Unsupported(String::new()).to_string(),
        "not an audio file wavekeep can read \
         (supported: MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC)"
    );
    assert_eq!(
        MediaError::Unsupported("the opus codec is not supported".into()).to_string(),
        "not an audio file wavekeep can read: the opus codec is not supported \
         (supported: MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC)"
    );
    assert_eq!(
        MediaError::Malformed("contains no audio".into()).to_string(),
        "the audio data is damaged: contains no audio"
    );
}

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
