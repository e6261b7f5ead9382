//! A file's own tags and cover art, read with `lofty` (ID3v1 and v2,
//! Vorbis comments in Ogg and FLAC, MP4 atoms, RIFF INFO and ID3 in WAV,
//! AIFF text chunks and ID3, APE). lofty reads these better than
//! symphonia's metadata (see `bench/tags.rs`: album artist, track and disc
//! numbers, RIFF INFO and AIFF chunks), and caps every item it allocates.
//!
//! Like the decoders, it parses bytes an uploader chose, so it runs only in
//! the sandboxed media worker.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use lofty::config::ParseOptions;
use lofty::picture::{Picture, PictureType};
use lofty::prelude::*;
use lofty::probe::Probe;
use lofty::tag::Tag;

use super::{check_deadline, malformed, MediaError};
use app::media::{EmbeddedArt, FileTags};

/// Embedded cover art larger than this is left out (no cover needs more;
/// the artwork job would refuse it anyway).
pub const MAX_ART_BYTES: usize = 16 << 20;

/// The tags of the file at `path` (empty when it has none or is in a format
/// lofty does not know, such as Matroska), and its cover art written to
/// `art_out` when it has some.
pub fn read_tags(
    path: &Path,
    art_out: &Path,
    deadline: Instant,
) -> Result<(FileTags, Option<EmbeddedArt>), MediaError> {
    super::guard(|| tags_inner(path, art_out, deadline))
}

pub(super) fn tags_inner(
    path: &Path,
    art_out: &Path,
    deadline: Instant,
) -> Result<(FileTags, Option<EmbeddedArt>), MediaError> {
    check_deadline(deadline)?;
    let probe = Probe::open(path)
        .map_err(|e| malformed(e.to_string()))?
        .options(ParseOptions::new().read_properties(false))
        .guess_file_type()?;
    if probe.file_type().is_none() {
        return Ok((FileTags::default(), None));
    }
    // A damaged tag is no reason to refuse the audio: no tags then.
    let Ok(file) = probe.read() else {
        return Ok((FileTags::default(), None));
    };
    check_deadline(deadline)?;
    // The format's own tag first, then the others fill what it lacks
    // (an MP3 with ID3v2 and an old ID3v1).
    let mut tags: Vec<&Tag> = Vec::new();
    if let Some(t) = file.primary_tag() {
        tags.push(t);
    }
    for t in file.tags() {
        if !tags.iter().any(|seen| std::ptr::eq(*seen, t)) {
            tags.push(t);
        }
    }
    let mut out = FileTags::default();
    for t in &tags {
        fill(&mut out, t);
    }
    let art = match cover(&tags) {
        Some(pic) if pic.data().len() <= MAX_ART_BYTES && !pic.data().is_empty() => {
            let mut f = std::fs::File::create(art_out)?;
            f.write_all(pic.data())?;
            f.sync_all()?;
            Some(EmbeddedArt {
                bytes: pic.data().len() as u64,
            })
        }
        _ => None,
    };
    Ok((out.cleaned(), art))
}

fn set_text(field: &mut String, value: Option<impl AsRef<str>>) {
    if field.trim().is_empty() {
        if let Some(v) = value {
            *field = v.as_ref().to_string();
        }
    }
}

/// Fills what `out` lacks from `t`.
fn fill(out: &mut FileTags, t: &Tag) {
    set_text(&mut out.title, t.title());
    set_text(&mut out.artist, t.artist());
    set_text(&mut out.album, t.album());
    set_text(&mut out.album_artist, t.get_string(ItemKey::AlbumArtist));
    set_text(&mut out.genre, t.genre());
    set_text(&mut out.comment, t.comment());
    // Vorbis comments written by ffmpeg and others keep it as DESCRIPTION.
    set_text(&mut out.comment, t.get_string(ItemKey::Description));
    // "3/12" where the format keeps one text (RIFF INFO, some Vorbis).
    out.track_no = out
        .track_no
        .or(t.track())
        .or_else(|| t.get_string(ItemKey::TrackNumber).and_then(leading_number));
    out.disc_no = out
        .disc_no
        .or(t.disk())
        .or_else(|| t.get_string(ItemKey::DiscNumber).and_then(leading_number));
    if out.year.is_none() {
        out.year = t
            .date()
            .map(|d| i32::from(d.year))
            .or_else(|| t.get_string(ItemKey::Year).and_then(year_of));
    }
}

/// The year a date text starts with ("1999", "1999-04-01").
fn year_of(s: &str) -> Option<i32> {
    let digits: String = s.trim().chars().take(4).collect();
    (digits.len() == 4).then(|| digits.parse().ok()).flatten()
}

/// The number a text starts with ("3/12" → 3).
fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(6)
        .collect();
    digits.parse().ok()
}

/// The front cover, else the first picture of any kind.
fn cover<'a>(tags: &[&'a Tag]) -> Option<&'a Picture> {
    tags.iter()
        .find_map(|t| t.get_picture_type(PictureType::CoverFront))
        .or_else(|| tags.iter().find_map(|t| t.pictures().first()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years() {
        assert_eq!(year_of("1999-04-01"), Some(1999));
        assert_eq!(year_of(" 2004"), Some(2004));
        assert_eq!(year_of("99"), None);
        assert_eq!(year_of("abcd"), None);
        assert_eq!(leading_number("3/12"), Some(3));
        assert_eq!(leading_number(" 7"), Some(7));
        assert_eq!(leading_number("x"), None);
    }
}
