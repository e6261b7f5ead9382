//! What the media jobs learn about stored files (format facts, peaks,
//! previews, failures) and where they record it. The decoding itself is the
//! server's `media/` room and the jobs its `worker/`; the SQL is in `db`.

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod library;

/// The decoder's facts about a file: what the metadata job records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    /// Playable length in milliseconds (rounded).
    pub duration_ms: i64,
    /// Playable length in sample frames at `sample_rate`.
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per sample of the source, where the format defines one (PCM, FLAC, ALAC).
    pub bit_depth: Option<u16>,
    /// Short lowercase codec name: "mp3", "flac", "pcm_s16le", "vorbis", "aac", "alac", ...
    pub codec: String,
    /// Bits per second: the nominal rate for PCM, file size / duration otherwise.
    pub bitrate: Option<u32>,
    /// Short lowercase container name: "mp3", "flac", "wav", "ogg", "mp4", "adts", ...
    pub container: String,
}

/// The longest text a tag field keeps (characters); a comment keeps more.
pub const TAG_TEXT_MAX: usize = 200;
pub const TAG_COMMENT_MAX: usize = 1000;

/// What a file's own tags say (ID3v1/v2, Vorbis comments, MP4 atoms, RIFF
/// INFO, AIFF text chunks): read by the metadata job, applied to the track
/// a file first becomes, then the owner's to edit. Empty text: not tagged.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FileTags {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub track_no: Option<u32>,
    pub disc_no: Option<u32>,
    pub year: Option<i32>,
    pub genre: String,
    pub comment: String,
}

impl FileTags {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == FileTags::default()
    }

    /// Every field within its cap, without control characters, trimmed;
    /// numbers in a plausible range (a year of 0 or 40000 is no year).
    pub fn cleaned(mut self) -> FileTags {
        for (field, max) in [
            (&mut self.title, TAG_TEXT_MAX),
            (&mut self.artist, TAG_TEXT_MAX),
            (&mut self.album, TAG_TEXT_MAX),
            (&mut self.album_artist, TAG_TEXT_MAX),
            (&mut self.genre, TAG_TEXT_MAX),
            (&mut self.comment, TAG_COMMENT_MAX),
        ] {
            *field = clean_text(field, max);
        }
        self.track_no = self.track_no.filter(|n| (1..=9999).contains(n));
        self.disc_no = self.disc_no.filter(|n| (1..=999).contains(n));
        self.year = self.year.filter(|y| (1000..=9999).contains(y));
        self
    }
}

/// `s` trimmed, whitespace runs (newlines included) made one space, other
/// control characters dropped, at most `max` characters.
pub fn clean_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let mut count = 0;
    let mut space = false;
    for c in s.trim().chars() {
        if count >= max {
            break;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c.is_control() || c == '\u{feff}' {
            continue;
        }
        if space && count > 0 {
            // A space only with a character after it.
            if count + 2 > max {
                break;
            }
            out.push(' ');
            count += 1;
        }
        space = false;
        out.push(c);
        count += 1;
    }
    out
}

/// Cover art a media worker found embedded in a file and wrote out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbeddedArt {
    pub bytes: u64,
}

/// The widths (CSS pixels) artwork thumbnails are made at; a thumbnail is
/// never wider than the original.
pub const ART_WIDTHS: [u32; 3] = [64, 256, 768];

/// A thumbnail a media worker made: its size in pixels and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Thumb {
    /// The width it was made for (one of [`ART_WIDTHS`]).
    pub target: u32,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_cleaned() {
        let t = FileTags {
            title: "  Song\n\tone\u{0}  ".into(),
            artist: "x".repeat(500),
            year: Some(0),
            track_no: Some(3),
            disc_no: Some(0),
            ..FileTags::default()
        }
        .cleaned();
        assert_eq!(t.title, "Song one");
        assert_eq!(t.artist.chars().count(), TAG_TEXT_MAX);
        assert_eq!((t.year, t.track_no, t.disc_no), (None, Some(3), None));
        assert!(FileTags::default().is_empty() && !t.is_empty());
        assert_eq!(clean_text("a  b", 2), "a");
        assert_eq!(clean_text("a  b", 3), "a b");
    }
}
