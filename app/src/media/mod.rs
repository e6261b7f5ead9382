//! What the media jobs learn about stored files (format facts, peaks,
//! previews, failures) and where they record it. The decoding itself is the
//! server's `media/` room and the jobs its `worker/`; the SQL is in `db`.

#[cfg(feature = "ssr")]
pub mod db;

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
