//! Tracks: the catalog's main noun. Shared types here, server functions in
//! `api`, SQL in `db`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod db;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    Private,
    Unlisted,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Unlisted => "unlisted",
            Visibility::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "private" => Some(Visibility::Private),
            "unlisted" => Some(Visibility::Unlisted),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

/// One row of a track listing: only stored columns, never the audio file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackSummary {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub tags: String,
    /// `None` while the metadata job has not run: shown as "processing".
    pub duration_ms: Option<i64>,
    pub visibility: Visibility,
    pub created_at: i64,
}

/// A page of a keyset-paginated listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackPage {
    pub items: Vec<TrackSummary>,
    /// Opaque cursor for the next page, when there is one.
    pub next: Option<String>,
}

pub const PAGE_SIZE: i64 = 50;

/// `created_at:id` of the last row: the keyset cursor.
pub fn encode_cursor(created_at: i64, id: i64) -> String {
    format!("{created_at}:{id}")
}

pub fn decode_cursor(cursor: &str) -> Option<(i64, i64)> {
    let (a, b) = cursor.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A stored file as shown to people and machines: only what the database
/// holds (the metadata job fills the media fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetInfo {
    pub id: i64,
    pub size_bytes: i64,
    pub mime: String,
    pub original_filename: Option<String>,
    pub duration_ms: Option<i64>,
    pub sample_rate: Option<i64>,
    pub channels: Option<i64>,
    pub bit_depth: Option<i64>,
    pub codec: Option<String>,
    pub bitrate: Option<i64>,
    pub container: Option<String>,
    /// Why processing failed, in words a person understands.
    pub processing_error: Option<String>,
    pub peaks_ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub id: i64,
    pub number: i64,
    pub label: String,
    /// processing, ready or failed.
    pub status: String,
    pub created_at: i64,
    pub asset: AssetInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StemInfo {
    pub id: i64,
    pub version_id: i64,
    pub role: String,
    pub asset: AssetInfo,
}

/// One track with its versions, stems and the jobs working on its primary file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackDetail {
    pub id: i64,
    pub owner_id: i64,
    pub slug: String,
    pub title: String,
    pub tags: String,
    pub visibility: Visibility,
    pub duration_ms: Option<i64>,
    /// The primary version's status: processing, ready or failed.
    pub status: String,
    pub error: Option<String>,
    pub primary_version_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub versions: Vec<VersionInfo>,
    pub stems: Vec<StemInfo>,
    pub jobs: Vec<crate::jobs::JobInfo>,
}

impl TrackDetail {
    /// Owners and admins see a track; others only when it is not private.
    pub fn visible_to(&self, viewer: Option<&crate::auth::Viewer>) -> bool {
        self.visibility != Visibility::Private
            || viewer.is_some_and(|v| v.id == self.owner_id || v.is_admin())
    }
}

/// A track's processing as `/api/v1/tracks/{id}/events` sends it and the
/// upload page reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProgress {
    /// processing, ready or failed.
    pub status: String,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub jobs: Vec<JobProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub kind: String,
    pub state: crate::jobs::JobState,
    pub progress: i64,
    pub error: Option<String>,
}

impl From<&TrackDetail> for TrackProgress {
    fn from(t: &TrackDetail) -> Self {
        TrackProgress {
            status: t.status.clone(),
            error: t.error.clone(),
            duration_ms: t.duration_ms,
            jobs: t
                .jobs
                .iter()
                .map(|j| JobProgress {
                    kind: j.kind.clone(),
                    state: j.state,
                    progress: j.progress,
                    error: j.last_error.clone(),
                })
                .collect(),
        }
    }
}
