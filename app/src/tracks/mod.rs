//! Tracks: the catalog's main noun. Shared types here, server functions in
//! `api`, SQL in `db`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod links;
#[cfg(feature = "ssr")]
pub mod served;

use serde::{Deserialize, Serialize};

/// Written in lowercase (as the API and tus metadata take it); the
/// capitalized names of earlier answers are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[serde(alias = "Private")]
    Private,
    #[serde(alias = "Unlisted")]
    Unlisted,
    #[serde(alias = "Public")]
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
    /// From the file's tags or the owner.
    #[serde(default)]
    pub artist: String,
    /// Its artwork's token (`art_src`), when it has art.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art: Option<String>,
    /// Its primary file's loudness in 64 letters (the list's small waveform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// Where a search matched words spoken in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit: Option<crate::transcripts::TranscriptHit>,
}

/// A page of a keyset-paginated listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackPage {
    pub items: Vec<TrackSummary>,
    /// Opaque cursor for the next page, when there is one.
    pub next: Option<String>,
}

pub const PAGE_SIZE: i64 = 50;

/// How a listing is ordered. Each order has its own index and keyset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    /// Title A to Z (case-insensitive).
    Title,
    /// Longest first.
    Duration,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Title => "title",
            Sort::Duration => "duration",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "newest" => Some(Sort::Newest),
            "title" => Some(Sort::Title),
            "duration" => Some(Sort::Duration),
            _ => None,
        }
    }

    pub const ALL: [Sort; 3] = [Sort::Newest, Sort::Title, Sort::Duration];

    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "Newest",
            Sort::Title => "Title",
            Sort::Duration => "Duration",
        }
    }
}

/// What a listing shows: everyone's public tracks or the viewer's own, an
/// optional search, an order, and where the page starts. The page URL holds
/// all of it (`?q=&sort=&page=`), so a listing is shareable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListQuery {
    pub mine: bool,
    pub q: String,
    pub sort: Sort,
    pub cursor: Option<String>,
    /// Rows per page: 50 unless asked (at most `MAX_PAGE`).
    #[serde(default)]
    pub per: Option<i64>,
}

impl ListQuery {
    pub fn page_size(&self) -> i64 {
        self.per.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE)
    }
}

/// Largest page a listing serves.
pub const MAX_PAGE: i64 = 1000;

/// Longest search text taken into account.
pub const MAX_QUERY: usize = 200;

/// The words of a search, as the index sees them: letters and digits only,
/// at most 8 of them.
pub fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
        .collect()
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
    /// A browser-playable preview (MP3) is stored.
    #[serde(default)]
    pub preview_ready: bool,
    /// Its loudness in 64 letters (`player::mini_path` draws it), once
    /// its peaks are made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mini_wave: Option<String>,
}

impl AssetInfo {
    pub fn plays_in_browsers(&self) -> bool {
        plays_in_browsers(self.codec.as_deref(), self.bit_depth, self.size_bytes)
    }
}

/// Whether browsers play a file well enough to stream it as is: compressed
/// formats they decode, and FLAC up to 16 bits and 64 MiB. Anything else
/// (WAV, AIFF, 24-bit FLAC, huge files) plays from the preview.
pub fn plays_in_browsers(codec: Option<&str>, bit_depth: Option<i64>, size_bytes: i64) -> bool {
    match codec.unwrap_or("") {
        "mp3" | "aac" | "opus" | "vorbis" => size_bytes <= 256 * 1024 * 1024,
        "flac" => size_bytes <= 64 * 1024 * 1024 && bit_depth.unwrap_or(16) <= 16,
        _ => false,
    }
}

/// What the player plays: a signed streaming link and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playback {
    pub src: String,
    pub mime: String,
    /// The compressed preview rather than the original file.
    pub preview: bool,
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
    /// A signed download link for the viewer (filled per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// What plays for this version (filled per request): switching to it
    /// keeps the moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback: Option<Playback>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StemInfo {
    pub id: i64,
    pub version_id: i64,
    pub role: String,
    pub asset: AssetInfo,
    /// Signed links for the stems panel (filled per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// What the stems panel loads when it is opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StemsPanel {
    pub version_id: i64,
    pub stems: Vec<StemInfo>,
    /// A signed link to all stems as one zip archive.
    pub zip_url: Option<String>,
}

/// One row of the download history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadRow {
    pub id: i64,
    pub created_at: i64,
    /// download or stems.
    pub kind: String,
    pub label: String,
    pub track_id: Option<i64>,
    pub track_title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadPage {
    pub items: Vec<DownloadRow>,
    pub next: Option<String>,
}

pub const DOWNLOADS_PAGE: i64 = 100;

/// Most stems one version holds.
pub const MAX_STEMS: i64 = 20;

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
    /// Stems of the primary version (the panel loads them when opened).
    pub stem_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub versions: Vec<VersionInfo>,
    pub jobs: Vec<crate::jobs::JobInfo>,
    /// The viewer may edit and delete it (filled per request).
    #[serde(default)]
    pub can_edit: bool,
    /// What the player plays, for this viewer (filled per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback: Option<Playback>,
    /// The primary file's transcript, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<crate::transcripts::TranscriptProgress>,
    /// The radio call this track recorded, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallInfo>,
    /// Artist, album and the rest, from the file's tags or the owner
    /// (`title` unused: the track's title is above).
    #[serde(default)]
    pub about: crate::media::FileTags,
    /// Its artwork's token (`art_src`), when it has art.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art: Option<String>,
    /// The owner's own image, while it is made into thumbnails or when it
    /// could not be: ("pending" | "failed", the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art_upload: Option<(String, Option<String>)>,
    /// Where the viewer stopped listening (ms), for long tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_ms: Option<i64>,
}

/// The URL of artwork `token`'s thumbnail for `width` (one of
/// `media::ART_WIDTHS`): immutable, unguessable.
pub fn art_src(token: &str, width: u32) -> String {
    format!("/art/{token}/{width}.webp")
}

/// A `srcset` of every thumbnail of artwork `token`.
pub fn art_srcset(token: &str) -> String {
    crate::media::ART_WIDTHS
        .iter()
        .map(|w| format!("{} {w}w", art_src(token, *w)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a radio call track shows of its call (`crate::calls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    pub system_id: i64,
    pub system_label: String,
    pub talkgroup_id: i64,
    pub talkgroup_label: String,
    pub talkgroup_name: String,
    pub talkgroup_group: String,
    pub talkgroup_tag: String,
    /// Hz.
    pub frequency: Option<i64>,
    /// The radio that spoke first (its unit id).
    pub source: Option<i64>,
    /// ms since the epoch.
    pub started_at: i64,
}

impl TrackDetail {
    /// Owners and admins see a track; others only when it is not private.
    pub fn visible_to(&self, viewer: Option<&crate::auth::Viewer>) -> bool {
        self.visibility != Visibility::Private || self.editable_by(viewer)
    }

    /// Owners and admins change and delete tracks.
    pub fn editable_by(&self, viewer: Option<&crate::auth::Viewer>) -> bool {
        viewer.is_some_and(|v| v.id == self.owner_id || v.is_admin())
    }

    pub fn primary(&self) -> Option<&VersionInfo> {
        self.versions
            .iter()
            .find(|v| Some(v.id) == self.primary_version_id)
    }

    /// Nothing is queued or running for it: what a cache may keep.
    pub fn settled(&self) -> bool {
        self.status != "processing"
            && self.jobs.iter().all(|j| {
                !matches!(
                    j.state,
                    crate::jobs::JobState::Queued | crate::jobs::JobState::Running
                )
            })
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<crate::transcripts::TranscriptProgress>,
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
            transcript: t.transcript.clone(),
        }
    }
}
