//! What the app needs of stored files, without knowing where they live: the
//! names of the files jobs derive from an audio file, and a reader for them.
//! The server's storage room (`server/src/storage/`) implements it and hands
//! it to the state; the app never builds a storage path or key itself.

use std::future::Future;
use std::pin::Pin;

/// A file computed from a stored audio file (one per content hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derived {
    /// audiowaveform JSON, about 1,000 points (lists, the player).
    PeaksOverview,
    /// audiowaveform JSON, the finer zoom level.
    PeaksFine,
    /// A 128 kbit/s MP3 for files browsers play badly.
    Preview,
    /// Artwork (keyed by the image's own content hash): the image as
    /// uploaded or found in a file, checked only by the artwork job.
    ArtOriginal,
    /// Artwork thumbnails, WebP, at each of `media::ART_WIDTHS`.
    Art64,
    Art256,
    Art768,
}

impl Derived {
    /// The artwork thumbnail made for `width` (one of `media::ART_WIDTHS`).
    pub fn art(width: u32) -> Option<Derived> {
        match width {
            64 => Some(Derived::Art64),
            256 => Some(Derived::Art256),
            768 => Some(Derived::Art768),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Derived::PeaksOverview => "peaks-overview.json",
            Derived::PeaksFine => "peaks-fine.json",
            Derived::Preview => "preview.mp3",
            Derived::ArtOriginal => "art-original",
            Derived::Art64 => "art-64.webp",
            Derived::Art256 => "art-256.webp",
            Derived::Art768 => "art-768.webp",
        }
    }
}

pub type Read<'a> = Pin<Box<dyn Future<Output = std::io::Result<Option<Vec<u8>>>> + Send + 'a>>;

/// Reads derived files, wherever the storage keeps them.
pub trait FileStore: Send + Sync + 'static {
    /// The whole derived file `file` of the content `sha256`, or `None`
    /// when it was not made (yet).
    fn read_derived<'a>(&'a self, sha256: &'a str, file: Derived) -> Read<'a>;
}
