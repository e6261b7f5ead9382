//! Bogus and damaged input: errors that read well, never a panic or a
//! hang; truncated files report the length they really have.

use server::media::analyze::{probe, waveform, MediaError};

use crate::ffmpeg::{count_frames, have_ffmpeg};

use super::*;

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
        // AC-3 is a real audio format, in a container wavekeep reads, but
        // there is no decoder for it here.
        let ac3 = dir.file("x.mka");
        ffmpeg_to(
            &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "ac3"],
            &ac3,
        );
        let err = assert_err(&ac3);
        assert!(matches!(err, MediaError::Unsupported(_)), "{err}");

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
fn error_messages_read_well() {
    assert_eq!(
        MediaError::Unsupported(String::new()).to_string(),
        "not an audio file wavekeep can read \
         (supported: MP3, FLAC, WAV, AIFF, OGG Vorbis, Opus, AAC/M4A, ALAC)"
    );
    assert_eq!(
        MediaError::Unsupported("the opus codec is not supported".into()).to_string(),
        "not an audio file wavekeep can read: the opus codec is not supported \
         (supported: MP3, FLAC, WAV, AIFF, OGG Vorbis, Opus, AAC/M4A, ALAC)"
    );
    assert_eq!(
        MediaError::Malformed("contains no audio".into()).to_string(),
        "the audio data is damaged: contains no audio"
    );
}
