//! What the media jobs learn about stored files (format facts, peaks,
//! previews, failures) and where they record it. The decoding itself is the
//! server's `media/` room and the jobs its `worker/`; the SQL is in `db`.

#[cfg(feature = "ssr")]
pub mod db;

/// What the metadata job found (the decoder's facts about a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub duration_ms: i64,
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: Option<u16>,
    pub codec: String,
    pub bitrate: Option<u32>,
    pub container: String,
}
