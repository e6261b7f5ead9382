//! The persistent job queue: every expensive thing runs as a job stored in
//! the database. Shared types here; the SQL (enqueue, claim with leases,
//! fenced completion, retries with backoff, cleanup) is in `db`.

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod queue;
#[cfg(feature = "ssr")]
pub mod read;

use serde::{Deserialize, Serialize};

/// Reads an upload's facts (duration, format, tags).
pub const METADATA: &str = "metadata";
/// Computes an asset's waveform peaks.
pub const WAVEFORM: &str = "waveform";
/// Recounts storage totals (every user's, or one user's).
pub const STORAGE: &str = "storage";
/// Removes expired uploads, sessions and finished jobs.
pub const CLEANUP: &str = "cleanup";
/// Removes stored files no asset refers to any more (after a delete).
pub const PURGE: &str = "purge";
/// Makes a browser-playable preview of an asset.
pub const PREVIEW: &str = "preview";
/// Makes an asset's transcript through the speech-to-text provider.
pub const TRANSCRIBE: &str = "transcribe";
/// Artwork thumbnails of one image (payload: its sha256).
pub const ARTWORK: &str = "artwork";

/// The payload of a job that works on asset `id`.
pub fn asset_payload(asset_id: i64) -> String {
    format!("{{\"asset_id\":{asset_id}}}")
}

/// The subject of jobs on asset `id` (a track page shows them).
pub fn asset_subject(asset_id: i64) -> String {
    format!("asset:{asset_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Dead,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// A job as shown to people (track page, admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub priority: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub progress: i64,
    pub last_error: Option<String>,
    pub run_at: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// Delay before retry number `retry` (1 = the first retry): `base · 2^(retry-1)`,
/// scaled by `jitter` in [0, 1) mapped onto ±20 %, so retries of many jobs
/// that failed together spread out. With a 2 s base: about 2 s, 4 s, 8 s.
pub fn backoff_ms(retry: u32, base_ms: u64, jitter: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << retry.clamp(1, 20).saturating_sub(1));
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    (exp as f64 * factor) as u64
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        for (retry, nominal) in [(1, 2_000u64), (2, 4_000), (3, 8_000)] {
            let low = backoff_ms(retry, 2_000, 0.0);
            let high = backoff_ms(retry, 2_000, 0.999_999);
            assert_eq!(low, nominal * 8 / 10, "retry {retry}");
            assert!(
                high < nominal * 12 / 10 && high > nominal,
                "retry {retry}: {high}"
            );
        }
        assert_eq!(
            backoff_ms(0, 1_000, 0.5),
            1_000,
            "retry 0 is treated as the first"
        );
        assert!(backoff_ms(60, 1_000, 0.5) > 0, "no overflow");
    }
}
