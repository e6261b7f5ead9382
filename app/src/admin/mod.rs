//! What the /admin dashboard and the admin API show: shared between the
//! server (which measures) and the browser (which draws).

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod snapshot;
#[cfg(feature = "ssr")]
pub mod view;

pub mod api;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the dashboard shows, as of `now_ms`. Rates and percentiles
/// cover the rolling window (`window_secs`, at most 15 minutes, less right
/// after a start: the history begins at `history_from_ms`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub now_ms: i64,
    pub started_at_ms: i64,
    pub history_from_ms: i64,
    pub window_secs: u64,
    pub slot_secs: u64,
    /// Whether HTTP requests are measured (`WAVEKEEP_INSTRUMENTATION`).
    pub instrumentation: bool,
    pub totals: Totals,
    /// Every measured route, slowest (p95) first.
    pub routes: Vec<RouteStats>,
    pub series: Series,
    pub caches: Vec<CacheStat>,
    pub queue: QueueStats,
    pub pool: PoolStats,
    pub process: ProcessStats,
    pub disk: DiskStats,
    /// Distinct users who made a signed-in request in the last 5 minutes.
    pub active_users: u64,
    pub alerts: Vec<Alert>,
    /// The latest database statements that took longer than 100 ms.
    pub slow_queries: Vec<SlowQuery>,
    /// Transcription, when a provider is set up.
    #[serde(default)]
    pub transcription: Option<crate::transcripts::TranscriptionStats>,
    /// The process that answered (its `InstanceRow::id`).
    #[serde(default)]
    pub answered_by: String,
    /// Every wavekeep process on this database seen lately, oldest first.
    #[serde(default)]
    pub instances: Vec<InstanceRow>,
    /// Server folders imported lately, newest first.
    #[serde(default)]
    pub imports: Vec<ImportRow>,
}

/// A server folder being imported (or imported) from /admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRow {
    pub id: i64,
    pub dir: String,
    /// The account the files go to.
    pub email: String,
    /// running, done or failed.
    pub status: String,
    /// Files found (once the folder is walked).
    pub total: Option<i64>,
    pub done: i64,
    pub imported: i64,
    pub skipped: i64,
    pub failed: i64,
    /// The first failures: (file, reason).
    pub errors: Vec<(String, String)>,
    /// Why the whole import failed, when it did.
    pub message: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// One wavekeep process serving this deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceRow {
    pub id: String,
    pub version: String,
    /// Host name and listening address.
    pub host: String,
    pub addr: String,
    pub started_at_ms: i64,
    /// Its last heartbeat.
    pub seen_at_ms: i64,
    /// Jobs its workers are running now.
    pub running_jobs: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Requests in the window.
    pub requests: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One route (method and matched path) over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    pub route: String,
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    pub requests_per_sec: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Per-slot points for the charts, oldest first; `t` is each slot's start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub t: Vec<i64>,
    pub requests_per_sec: Vec<f64>,
    pub error_rate: Vec<f64>,
    pub p95_ms: Vec<f64>,
    pub queue_depth: Vec<f64>,
    /// `None` where no cache was read in the slot.
    pub cache_hit_rate: Vec<Option<f64>>,
    pub rss_mb: Vec<f64>,
    /// p95 per slot of the slowest routes (`None`: no request in the slot).
    pub route_p95_ms: Vec<RouteSeries>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteSeries {
    pub route: String,
    pub p95_ms: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheStat {
    pub name: String,
    /// Since the process started.
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: u64,
    /// Over the window; `None` when the cache was not read.
    pub hit_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
    /// How long the oldest due job has been waiting.
    pub oldest_wait_secs: f64,
    pub kinds: Vec<KindStats>,
    /// Dead jobs, newest first (at most 20).
    pub failed: Vec<JobRow>,
    /// The latest jobs of any state (at most 20).
    pub recent: Vec<JobRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindStats {
    pub kind: String,
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
    pub paused: bool,
    /// Over the last minute.
    pub started_per_min: u64,
    pub succeeded_per_min: u64,
    pub failed_per_min: u64,
    pub retried_per_min: u64,
    /// Over the window: from due to started, and from started to finished.
    pub wait_p50_ms: f64,
    pub wait_p95_ms: f64,
    pub run_p50_ms: f64,
    pub run_p95_ms: f64,
    /// Starts per minute allowed, when the kind is rate limited.
    pub rate_limit_per_minute: Option<u32>,
    /// Starts available right now under that limit.
    pub rate_tokens: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub subject: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolStats {
    pub backend: String,
    pub max: u32,
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub use_ratio: f64,
    /// How long taking a connection took (sampled every second).
    pub acquire_p50_ms: f64,
    pub acquire_p95_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    pub rss_bytes: u64,
    pub cpu_percent: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub threads: u64,
    pub uptime_secs: u64,
    /// RSS trend over the window, once it covers 5 minutes.
    pub memory_growth_mb_per_hour: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskStats {
    /// Bytes under the data directory (recounted every minute).
    pub data_dir_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertLevel {
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable name: error_rate, p95, queue_length, pool_use, memory_growth, disk_free.
    pub key: String,
    pub level: AlertLevel,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowQuery {
    pub at_ms: i64,
    /// The statement's first words (its name).
    pub summary: String,
    pub ms: f64,
}

/// `GET /api/queue-status`: public totals, and `detail` for admins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Jobs waiting (queued), all kinds.
    pub queue_length: i64,
    /// Jobs running now.
    pub processing: i64,
    /// Jobs started in the last minute.
    pub requests_this_minute: u64,
    /// The tightest limit of the rate-limited kinds (`None`: none is limited).
    pub rate_limit_per_minute: Option<u32>,
    pub kinds: BTreeMap<String, KindStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<QueueStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindStatus {
    pub queue_length: i64,
    pub processing: i64,
    pub requests_this_minute: u64,
    pub rate_limit_per_minute: Option<u32>,
    pub paused: bool,
}

/// A user's stored bytes after a recount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRefresh {
    pub user_id: i64,
    pub storage_used_bytes: i64,
    pub previous_bytes: i64,
}

/// Job kinds an admin may queue by hand, and what their target is.
pub const ENQUEUEABLE: &[(&str, Target)] = &[
    (crate::jobs::METADATA, Target::Asset),
    (crate::jobs::WAVEFORM, Target::Asset),
    (crate::jobs::PREVIEW, Target::Asset),
    (crate::jobs::STORAGE, Target::OptionalUser),
    (crate::jobs::CLEANUP, Target::None),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Asset,
    OptionalUser,
    None,
}

/// Recounts one user's stored bytes and drops their cached usage.
#[cfg(feature = "ssr")]
pub async fn refresh_storage(
    state: &crate::state::AppState,
    user_id: i64,
) -> Result<StorageRefresh, crate::errors::AppError> {
    let r = db::refresh_storage(&state.db, user_id).await?;
    state.usage.invalidate(user_id).await;
    Ok(r)
}

/// Queues a dead or cancelled job again and wakes this process's workers.
#[cfg(feature = "ssr")]
pub async fn retry(
    state: &crate::state::AppState,
    id: i64,
) -> Result<JobRow, crate::errors::AppError> {
    let job = db::retry(&state.db, id).await?;
    state.queue.wake().notify_waiters();
    Ok(job)
}
