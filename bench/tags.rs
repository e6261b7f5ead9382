//! Tags and artwork benchmark.
//!
//! Tags: symphonia's metadata against lofty's on the same corpus (ffmpeg
//! writes the same nine fields and, where the format holds one, a cover
//! into MP3 (ID3v2.3 and 2.4), FLAC, M4A, Ogg Vorbis, Opus, WAV (RIFF INFO)
//! and AIFF (ID3)): for each format, how many fields each library reads
//! right, whether it finds the cover, and the time per file. This is how
//! wavekeep chose lofty for the metadata job (`media/analyze/tags.rs`).
//!
//! Artwork: thumbnails/s of `media::analyze::thumbnails` (64, 256 and 768
//! WebP, as the artwork job makes them) on covers of common sizes, and the
//! bytes the thumbnails a list (64) and a track page (256) load weigh
//! against the embedded originals they replace.
//!
//! Run: `cargo bench -p server --bench tags` (needs Debian's ffmpeg).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::media::FileTags;
use server::media::analyze;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, StandardTag};

#[path = "../server/tests/support/ffmpeg.rs"]
#[allow(dead_code, reason = "this bench makes its files with ffmpeg() alone")]
mod fixtures;

use fixtures::ffmpeg;

/// What ffmpeg writes into every file.
fn expected() -> FileTags {
    FileTags {
        title: "Harbour Lights".into(),
        artist: "The Quiet Tides".into(),
        album: "Low Water".into(),
        album_artist: "Tides Collective".into(),
        track_no: Some(3),
        disc_no: Some(1),
        year: Some(2019),
        genre: "Ambient".into(),
        comment: "recorded live".into(),
    }
}

const FORMATS: [(&str, &[&str], bool); 8] = [
    (
        "mp3 (ID3v2.3)",
        &["-c:a", "libmp3lame", "-id3v2_version", "3"],
        true,
    ),
    (
        "mp3 (ID3v2.4)",
        &["-c:a", "libmp3lame", "-id3v2_version", "4"],
        true,
    ),
    ("flac", &["-c:a", "flac"], true),
    ("m4a", &["-c:a", "aac"], true),
    ("ogg", &["-c:a", "libvorbis"], false),
    ("opus", &["-c:a", "libopus"], false),
    ("wav", &["-c:a", "pcm_s16le"], false),
    ("aiff", &["-c:a", "pcm_s16be", "-write_id3v2", "1"], false),
];

fn extension(name: &str) -> &str {
    name.split(' ').next().unwrap_or(name)
}

fn make(dir: &Path, i: usize, name: &str, codec: &[&str], cover: Option<&Path>) -> PathBuf {
    let out = dir.join(format!("f{i}.{}", extension(name)));
    let e = expected();
    let mut args: Vec<String> = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(c) = cover {
        args.extend(["-i".into(), c.to_string_lossy().into_owned()]);
        args.extend(
            [
                "-map",
                "0:a",
                "-map",
                "1:v",
                "-c:v",
                "copy",
                "-disposition:v",
                "attached_pic",
            ]
            .map(String::from),
        );
    }
    args.extend(codec.iter().map(|s| s.to_string()));
    for (k, v) in [
        ("title", e.title.as_str()),
        ("artist", &e.artist),
        ("album", &e.album),
        ("album_artist", &e.album_artist),
        ("genre", &e.genre),
        ("comment", &e.comment),
        ("date", "2019"),
        ("track", "3/12"),
        ("disc", "1/2"),
    ] {
        args.extend(["-metadata".into(), format!("{k}={v}")]);
    }
    args.push(out.to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
    out
}

/// How many of the nine fields `got` has right.
fn score(got: &FileTags) -> usize {
    let e = expected();
    [
        got.title == e.title,
        got.artist == e.artist,
        got.album == e.album,
        got.album_artist == e.album_artist,
        got.track_no == e.track_no,
        got.disc_no == e.disc_no,
        got.year == e.year,
        got.genre == e.genre,
        got.comment == e.comment,
    ]
    .iter()
    .filter(|ok| **ok)
    .count()
}

/// The tags symphonia's metadata gives (every revision, media and
/// per-track), and whether it found a picture.
fn symphonia_tags(path: &Path) -> (FileTags, bool) {
    let mut out = FileTags::default();
    let Ok(file) = std::fs::File::open(path) else {
        return (out, false);
    };
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let Ok(mut reader) = symphonia::default::get_probe().probe(
        &Hint::new(),
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    ) else {
        return (out, false);
    };
    let mut picture = false;
    let mut meta = reader.metadata();
    loop {
        if let Some(rev) = meta.current() {
            let containers =
                std::iter::once(&rev.media).chain(rev.per_track.iter().map(|t| &t.metadata));
            for c in containers {
                picture |= !c.visuals.is_empty();
                for tag in &c.tags {
                    let set = |f: &mut String, v: &str| {
                        if f.is_empty() {
                            *f = v.to_string();
                        }
                    };
                    match &tag.std {
                        Some(StandardTag::TrackTitle(v)) => set(&mut out.title, v),
                        Some(StandardTag::Artist(v)) => set(&mut out.artist, v),
                        Some(StandardTag::Album(v)) => set(&mut out.album, v),
                        Some(StandardTag::AlbumArtist(v)) => set(&mut out.album_artist, v),
                        Some(StandardTag::Genre(v)) => set(&mut out.genre, v),
                        Some(StandardTag::Comment(v)) => set(&mut out.comment, v),
                        Some(StandardTag::TrackNumber(n)) => {
                            out.track_no = out.track_no.or(u32::try_from(*n).ok())
                        }
                        Some(StandardTag::DiscNumber(n)) => {
                            out.disc_no = out.disc_no.or(u32::try_from(*n).ok())
                        }
                        Some(StandardTag::RecordingYear(y) | StandardTag::ReleaseYear(y)) => {
                            out.year = out.year.or(Some(i32::from(*y)))
                        }
                        Some(StandardTag::RecordingDate(d) | StandardTag::ReleaseDate(d)) => {
                            out.year = out.year.or(d.get(..4).and_then(|y| y.parse().ok()))
                        }
                        _ => {}
                    }
                }
            }
        }
        if meta.pop().is_none() {
            break;
        }
    }
    (out, picture)
}

fn lofty_tags(path: &Path, scratch: &Path) -> (FileTags, bool) {
    let art = scratch.join("art.bin");
    match analyze::read_tags(path, &art, Instant::now() + Duration::from_secs(10)) {
        Ok((t, a)) => (t, a.is_some()),
        Err(_) => (FileTags::default(), false),
    }
}

fn per_file(runs: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..runs {
        f();
    }
    t.elapsed() / runs
}

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let cover = d.join("cover.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=600x600",
        "-frames:v",
        "1",
        "-q:v",
        "3",
        cover.to_str().expect("path"),
    ]);
    println!("tags: fields read right of 9, cover found, time per file (mean of 200 reads)");
    println!(
        "{:<15} {:>8} {:>7} {:>9}   {:>8} {:>7} {:>9}",
        "format", "lofty", "cover", "µs", "symph.", "cover", "µs"
    );
    let (mut lofty_total, mut sym_total) = (0, 0);
    for (i, (name, codec, art)) in FORMATS.iter().enumerate() {
        let path = make(d, i, name, codec, art.then_some(cover.as_path()));
        let (lt, la) = lofty_tags(&path, d);
        let (st, sa) = symphonia_tags(&path);
        let lt_time = per_file(200, || {
            let _ = lofty_tags(&path, d);
        });
        let st_time = per_file(200, || {
            let _ = symphonia_tags(&path);
        });
        lofty_total += score(&lt);
        sym_total += score(&st);
        let yes = |b: bool, want: bool| match (want, b) {
            (false, _) => "-",
            (true, true) => "yes",
            (true, false) => "NO",
        };
        println!(
            "{:<15} {:>6}/9 {:>7} {:>9}   {:>6}/9 {:>7} {:>9}",
            name,
            score(&lt),
            yes(la, *art),
            lt_time.as_micros(),
            score(&st),
            yes(sa, *art),
            st_time.as_micros()
        );
    }
    println!(
        "total: lofty {lofty_total}/{}, symphonia {sym_total}/{}",
        FORMATS.len() * 9,
        FORMATS.len() * 9
    );

    // Artwork.
    println!();
    println!("artwork: thumbnails 64/256/768 WebP (q80) per image, as the artwork job makes them");
    println!(
        "{:<22} {:>10} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "original", "bytes", "images/s", "64 B", "256 B", "768 B", "256 vs"
    );
    for (w, h, q, fmt) in [
        (500, 500, "4", "jpg"),
        (1000, 1000, "3", "jpg"),
        (1400, 1400, "2", "jpg"),
        (3000, 3000, "2", "jpg"),
        (1000, 1000, "", "png"),
    ] {
        let src = d.join(format!("cover-{w}.{fmt}"));
        let size = format!("testsrc2=size={w}x{h}");
        let mut args = vec!["-f", "lavfi", "-i", &size, "-frames:v", "1"];
        if !q.is_empty() {
            args.extend(["-q:v", q]);
        }
        let out = src.to_string_lossy().into_owned();
        args.push(&out);
        ffmpeg(&args);
        let bytes = std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0);
        let out_dir = d.join(format!("thumbs-{w}-{fmt}"));
        std::fs::create_dir_all(&out_dir).expect("dir");
        let runs = if w >= 3000 { 3 } else { 10 };
        let mut thumbs = Vec::new();
        let t = per_file(runs, || {
            let (_, _, made) =
                analyze::thumbnails(&src, &out_dir, Instant::now() + Duration::from_secs(60))
                    .expect("thumbnails");
            thumbs = made;
        });
        let b = |target: u32| {
            thumbs
                .iter()
                .find(|t| t.target == target)
                .map(|t| t.bytes)
                .unwrap_or(0)
        };
        println!(
            "{:<22} {:>10} {:>12.1} {:>10} {:>10} {:>10} {:>7.1}%",
            format!("{w}x{h} {fmt}"),
            bytes,
            1.0 / t.as_secs_f64(),
            b(64),
            b(256),
            b(768),
            100.0 * b(256) as f64 / bytes.max(1) as f64
        );
    }
}
