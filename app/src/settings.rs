//! Settings the app layer needs at run time; the `server` crate fills them
//! from the command line and `WAVEKEEP_*` environment (see `.env.example`).

use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the database (SQLite), uploads and previews live.
    pub data_dir: PathBuf,
    pub pool: PoolSettings,
    /// Public base URL; when it starts with `https://` cookies are `Secure`.
    pub public_url: String,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy.
    pub trust_proxy: bool,
    pub session_ttl: Duration,
    /// Failed logins per account or per client IP within `login_window` before 429.
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// Failed logins per account within an hour before 429 (ASVS 2.2.1).
    pub login_max_failures_per_hour: u32,
    /// Accounts one client address may register within an hour.
    pub register_per_hour: u32,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// A request body must bring at least `body_min_rate` bytes a second
    /// over each window of this length (and something within it).
    pub body_idle: Duration,
    pub body_min_rate: u64,
    /// Longest a stop waits for open requests (event streams, uploads).
    pub drain_timeout: Duration,
    /// Largest request body accepted by forms, server functions and JSON routes.
    pub body_limit_bytes: usize,
    /// Most queued jobs before enqueues answer 503 (back-pressure).
    pub queue_max_depth: i64,
    /// How long finished jobs are kept before the cleanup job deletes them.
    pub job_retention: Duration,
    /// Largest single upload (advertised as `Tus-Max-Size`).
    pub upload_max_bytes: u64,
    /// Storage each user may fill unless an admin set their own quota.
    pub default_quota_bytes: u64,
    /// An unfinished upload expires this long after its last write.
    pub upload_expiry: Duration,
    /// Machine API requests per minute per API key (and burst).
    pub api_rate_per_minute: u32,
    pub api_rate_burst: u32,
    /// The executable run as the sandboxed media worker (`wavekeep media-worker`);
    /// `None` means this process's own executable.
    pub media_exe: Option<PathBuf>,
    /// Where admins may import server folders from (`None`: nowhere).
    pub import_root: Option<PathBuf>,
    /// Address-space limit of a media worker process, in MiB.
    pub media_memory_mb: u64,
    /// How long a claimed job stays with its worker without a heartbeat;
    /// after a crash its jobs run again this much later.
    pub job_lease: Duration,
    /// How long signed links stay valid: downloads, the player's stream, and
    /// "all stems" archives.
    pub download_link_ttl: Duration,
    pub stream_link_ttl: Duration,
    pub stems_link_ttl: Duration,
    /// Whether HTTP requests are measured (per-route counts and latencies).
    pub instrumentation: bool,
    /// Who may read `/metrics` on the main listener.
    pub metrics: MetricsAccess,
    /// A bearer token that may also read `/metrics` (for a scraper).
    pub metrics_token: Option<secrecy::SecretString>,
    pub alerts: AlertThresholds,
    /// Speech-to-text (OpenAI's transcription protocol); `None`: off.
    pub stt: Option<SttSettings>,
    /// Stored files in S3-compatible object storage; `None`: in `data_dir`.
    pub object_store: Option<ObjectStoreSettings>,
}

/// An S3-compatible bucket for stored files. Unset fields come from the
/// standard `AWS_*` variables every S3 tool reads.
#[derive(Debug, Clone)]
pub struct ObjectStoreSettings {
    pub bucket: String,
    /// Keys live under `prefix/` (empty: the bucket's root).
    pub prefix: String,
    /// `http(s)://host:port` of a store other than AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// A secret: never logged (its `Debug` is redacted).
    pub secret_access_key: Option<secrecy::SecretString>,
    /// Allow a plain-http endpoint.
    pub allow_http: Option<bool>,
    /// `bucket.host` addressing instead of `host/bucket` (path style).
    pub virtual_hosted: Option<bool>,
    /// Media links answer with a redirect to a short-lived presigned URL
    /// (bytes bypass wavekeep; CDN-ready) instead of proxying the bytes.
    pub redirect: bool,
}

impl ObjectStoreSettings {
    /// Parses `s3://bucket/prefix`: a bucket name as S3 allows it, and a
    /// prefix of plain path segments.
    pub fn parse_url(url: &str) -> Result<(String, String), String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3://bucket/prefix address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(format!("{bucket:?} is not a valid bucket name"));
        }
        let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
        let segment_ok = |s: &&str| {
            *s != "."
                && *s != ".."
                && s.len() <= 255
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+')
                })
        };
        if prefix.len() > 512 || !segments.iter().all(segment_ok) {
            return Err(format!(
                "{prefix:?} is not a valid prefix (letters, digits, - _ . = + and /)"
            ));
        }
        Ok((bucket.to_string(), segments.join("/")))
    }

    /// `s3://bucket/prefix`, for people (no credentials).
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Where transcriptions are made and how fast they may be asked for.
#[derive(Debug, Clone)]
pub struct SttSettings {
    /// The API's base URL (`https://api.openai.com/v1`).
    pub url: String,
    /// The path under it (`/audio/transcriptions`; whisper.cpp: `/inference`).
    pub path: String,
    /// A secret: never logged (its `Debug` is redacted).
    pub api_key: Option<secrecy::SecretString>,
    pub model: String,
    /// An ISO-639-1 code, or `None` to let the provider detect it.
    pub language: Option<String>,
    /// Requests in flight at most, for the whole deployment.
    pub concurrency: u32,
    /// Requests started in any 60 s window at most, for the whole deployment.
    pub rate_per_minute: u32,
    /// The window `rate_per_minute` counts over: 60 s (shorter in tests, so
    /// the limit binds within seconds).
    pub rate_window: Duration,
    pub timeout: Duration,
    /// Largest request body the provider takes (OpenAI: 25 MB).
    pub max_request_bytes: u64,
    /// Longest chunk of audio one request carries.
    pub chunk: Duration,
    /// Minutes each user may have transcribed a month (`None`: no cap).
    pub minutes_per_month: Option<u64>,
    /// Failures in a row that open the circuit breaker, and its cool-off.
    pub breaker_failures: u32,
    pub breaker_cooloff: Duration,
}

impl SttSettings {
    /// The full request URL.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            self.path.trim_start_matches('/')
        )
    }

    /// The longest chunk, in ms: the setting, or less when a chunk that
    /// long (16 kHz mono at 32 kbit/s: 4,000 bytes a second) would not fit
    /// in one request.
    pub fn chunk_ms(&self) -> u64 {
        let fits_secs = self.max_request_bytes.saturating_sub(16_384) / 4_000 * 9 / 10;
        (self.chunk.as_millis() as u64).min(fits_secs.max(5) * 1_000)
    }

    pub fn gate_limits(&self) -> crate::transcripts::gate::Limits {
        crate::transcripts::gate::Limits {
            concurrency: self.concurrency.max(1),
            rate_per_minute: self.rate_per_minute.max(1),
            window: self.rate_window,
            request_timeout: self.timeout,
            breaker_failures: self.breaker_failures.max(1),
            breaker_cooloff: self.breaker_cooloff,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Admins (session or API key) and the metrics token.
    Admin,
    /// Not served on the main listener (404); a separate listener may still serve it.
    Off,
}

/// When the dashboard raises an alert. Error rate and p95 look at the last
/// 5 minutes, and only once that many requests were made.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertThresholds {
    pub error_rate_high: f64,
    pub error_rate_critical: f64,
    pub p95_high_ms: f64,
    pub p95_critical_ms: f64,
    pub min_requests: u64,
    pub queue_length: i64,
    pub pool_use: f64,
    pub memory_growth_mb_per_hour: f64,
    pub disk_free_bytes: u64,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            error_rate_high: 0.05,
            error_rate_critical: 0.15,
            p95_high_ms: 2_000.0,
            p95_critical_ms: 5_000.0,
            min_requests: 20,
            queue_length: 100,
            pool_use: 0.8,
            memory_growth_mb_per_hour: 10.0,
            disk_free_bytes: 1 << 30,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./data"),
            pool: PoolSettings::default(),
            public_url: "http://127.0.0.1:3000".into(),
            trust_proxy: false,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            login_max_failures: 10,
            login_window: Duration::from_secs(60),
            login_max_failures_per_hour: 100,
            register_per_hour: 20,
            header_timeout: Duration::from_secs(15),
            body_idle: Duration::from_secs(30),
            body_min_rate: 256,
            drain_timeout: Duration::from_secs(30),
            body_limit_bytes: 64 * 1024,
            queue_max_depth: 10_000,
            job_retention: Duration::from_secs(7 * 24 * 3600),
            upload_max_bytes: 4 * 1024 * 1024 * 1024,
            default_quota_bytes: 10 * 1024 * 1024 * 1024,
            upload_expiry: Duration::from_secs(24 * 3600),
            api_rate_per_minute: 600,
            api_rate_burst: 120,
            media_exe: None,
            import_root: None,
            media_memory_mb: 2048,
            job_lease: Duration::from_secs(30),
            download_link_ttl: Duration::from_secs(3600),
            stream_link_ttl: Duration::from_secs(24 * 3600),
            stems_link_ttl: Duration::from_secs(3600),
            instrumentation: true,
            metrics: MetricsAccess::Admin,
            metrics_token: None,
            alerts: AlertThresholds::default(),
            stt: None,
            object_store: None,
        }
    }
}

impl Settings {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
