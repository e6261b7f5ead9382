//! Command line and configuration: every setting is a flag with a
//! `WAVEKEEP_*` environment variable and a documented default (see
//! `.env.example`); a `.env` file in the working directory is read first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

pub mod storage;
mod stt;

#[derive(Debug, Parser)]
#[command(
    name = "wavekeep",
    version,
    about = "A self-hosted audio workspace in one binary"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Revert migrations newer than this version instead (0 reverts all).
        #[arg(long)]
        revert_to: Option<i64>,
    },
    /// Create an admin account, or promote an existing one. The password is
    /// read from standard input (prompted twice on a terminal).
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Manage API keys for machine clients.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage stored files.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
    /// Import every audio file in a folder (and the folders in it) for one
    /// account, as uploads would: files already there (same content) are
    /// skipped, so running it again imports only what is new.
    Import {
        /// The folder.
        dir: std::path::PathBuf,
        /// Whose tracks they become.
        #[arg(long)]
        email: String,
        /// private (default), unlisted or public.
        #[arg(long)]
        visibility: Option<String>,
        /// Tags for every imported track (comma-separated).
        #[arg(long)]
        tags: Option<String>,
        /// Say what would be imported, import nothing.
        #[arg(long)]
        dry_run: bool,
        /// Files imported at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy the local store (the data directory's stored and derived files)
    /// into object storage under the same keys; resumable (what is there
    /// already is skipped) and verified by sha256. Then start wavekeep with
    /// WAVEKEEP_STORAGE set to the same address.
    Migrate {
        /// The destination, `s3://bucket/prefix` (endpoint and credentials
        /// from WAVEKEEP_S3_* or AWS_*).
        #[arg(long)]
        to: String,
        /// Files copied at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for an account and print it once on standard output.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Radio calls this key may upload (rdio-scanner's call upload):
        /// `*` (default: every system), `1:*;2:100,200` (system 1 whole,
        /// talkgroups 100 and 200 of system 2), or rdio-scanner's JSON.
        #[arg(long)]
        calls: Option<String>,
        /// Transcribe every call uploaded with this key (else as the
        /// account chose).
        #[arg(long)]
        transcribe_calls: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "WAVEKEEP_ADDR",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub addr: SocketAddr,
    /// Folder for the SQLite database and stored audio.
    #[arg(
        long,
        env = "WAVEKEEP_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The folder under which admins may import server folders from /admin
    /// (`POST /api/admin/import`); unset: no server folder can be imported
    /// that way (the `import` command is not limited).
    #[arg(long, env = "WAVEKEEP_IMPORT_ROOT", global = true)]
    pub import_root: Option<PathBuf>,
    /// sqlite:… or postgres://…; defaults to SQLite inside the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<SecretString>,
    /// Most pooled database connections.
    #[arg(
        long,
        env = "WAVEKEEP_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    pub db_max_connections: u32,
    /// Connections kept open when idle.
    #[arg(
        long,
        env = "WAVEKEEP_DB_MIN_CONNECTIONS",
        default_value_t = 5,
        global = true
    )]
    pub db_min_connections: u32,
    /// Seconds before an idle connection above the minimum is closed
    /// (PostgreSQL; SQLite keeps its connections, which are open files).
    #[arg(
        long,
        env = "WAVEKEEP_DB_IDLE_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub db_idle_timeout_secs: u64,
    /// Seconds to wait for a free connection before answering 503.
    #[arg(
        long,
        env = "WAVEKEEP_DB_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 3,
        global = true
    )]
    pub db_acquire_timeout_secs: u64,
    /// SQLite's durability: `full` (every acknowledged change survives a
    /// power cut) or `normal` (faster commits; a power cut can undo the
    /// last moments' changes, never corrupting the file).
    #[arg(
        long,
        env = "WAVEKEEP_SQLITE_SYNCHRONOUS",
        default_value = "full",
        value_parser = ["full", "normal"],
        global = true
    )]
    pub sqlite_synchronous: String,
    /// Start even on a PostgreSQL that runs with `fsync = off`.
    #[arg(
        long,
        env = "WAVEKEEP_ALLOW_UNSAFE_POSTGRES",
        default_value_t = false,
        global = true
    )]
    pub allow_unsafe_postgres: bool,
    /// Public base URL; https:// makes session cookies Secure.
    #[arg(
        long,
        env = "WAVEKEEP_PUBLIC_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    pub public_url: String,
    /// Trust X-Forwarded-For / X-Forwarded-Proto (only behind your own proxy).
    #[arg(
        long,
        env = "WAVEKEEP_TRUST_PROXY",
        default_value_t = false,
        global = true
    )]
    pub trust_proxy: bool,
    /// Hours a login session lasts.
    #[arg(
        long,
        env = "WAVEKEEP_SESSION_TTL_HOURS",
        default_value_t = 720,
        global = true
    )]
    pub session_ttl_hours: u64,
    /// Failed logins per account or IP within the window before 429.
    #[arg(
        long,
        env = "WAVEKEEP_LOGIN_MAX_FAILURES",
        default_value_t = 10,
        global = true
    )]
    pub login_max_failures: u32,
    /// Length of the failed-login window in seconds.
    #[arg(
        long,
        env = "WAVEKEEP_LOGIN_WINDOW_SECS",
        default_value_t = 60,
        global = true
    )]
    pub login_window_secs: u64,
    /// Failed logins per account within an hour before 429.
    #[arg(
        long,
        env = "WAVEKEEP_LOGIN_MAX_FAILURES_PER_HOUR",
        default_value_t = 100,
        global = true
    )]
    pub login_max_failures_per_hour: u32,
    /// Accounts one client address may register within an hour.
    #[arg(
        long,
        env = "WAVEKEEP_REGISTER_PER_HOUR",
        default_value_t = 20,
        global = true
    )]
    pub register_per_hour: u32,
    /// Seconds a client has to send a request's headers.
    #[arg(
        long,
        env = "WAVEKEEP_HEADER_TIMEOUT_SECS",
        default_value_t = 15,
        global = true
    )]
    pub header_timeout_secs: u64,
    /// Seconds of a request body's check window: a client that sends
    /// nothing for this long, or less than the minimum rate over it, is cut off.
    #[arg(
        long,
        env = "WAVEKEEP_BODY_IDLE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_idle_secs: u64,
    /// Bytes a second a request body must average over each window.
    #[arg(
        long,
        env = "WAVEKEEP_BODY_MIN_RATE",
        default_value_t = 256,
        global = true
    )]
    pub body_min_rate: u64,
    /// Seconds a stop waits for open requests before closing them.
    #[arg(long, env = "WAVEKEEP_DRAIN_SECS", default_value_t = 30, global = true)]
    pub drain_secs: u64,
    /// Largest body for forms, server functions and JSON routes, in bytes.
    #[arg(long, env = "WAVEKEEP_BODY_LIMIT_BYTES", default_value_t = 64 * 1024, global = true)]
    pub body_limit_bytes: usize,
    /// Most queued jobs before new work is refused with 503.
    #[arg(
        long,
        env = "WAVEKEEP_QUEUE_MAX_DEPTH",
        default_value_t = 10_000,
        global = true
    )]
    pub queue_max_depth: i64,
    /// Days finished jobs are kept.
    #[arg(
        long,
        env = "WAVEKEEP_JOB_RETENTION_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub job_retention_days: u64,
    /// Largest single upload, in MiB.
    #[arg(
        long,
        env = "WAVEKEEP_UPLOAD_MAX_MB",
        default_value_t = 4096,
        global = true
    )]
    pub upload_max_mb: u64,
    /// Storage quota of each user, in MiB, unless an admin set their own.
    #[arg(
        long,
        env = "WAVEKEEP_QUOTA_MB",
        default_value_t = 10240,
        global = true
    )]
    pub quota_mb: u64,
    /// Hours an unfinished upload is kept after its last write.
    #[arg(
        long,
        env = "WAVEKEEP_UPLOAD_EXPIRY_HOURS",
        default_value_t = 24,
        global = true
    )]
    pub upload_expiry_hours: u64,
    /// Machine API requests per minute per API key.
    #[arg(
        long,
        env = "WAVEKEEP_API_RATE_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    pub api_rate_per_minute: u32,
    /// Requests an API key may send at once before the per-minute rate applies.
    #[arg(
        long,
        env = "WAVEKEEP_API_RATE_BURST",
        default_value_t = 120,
        global = true
    )]
    pub api_rate_burst: u32,
    /// Seconds a running job's lease lasts without a heartbeat (its jobs run
    /// again this long after a crash).
    #[arg(
        long,
        env = "WAVEKEEP_JOB_LEASE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub job_lease_secs: u64,
    /// Seconds a signed download link stays valid.
    #[arg(
        long,
        env = "WAVEKEEP_DOWNLOAD_LINK_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub download_link_secs: u64,
    /// Seconds a signed streaming link (the player's) stays valid.
    #[arg(
        long,
        env = "WAVEKEEP_STREAM_LINK_SECS",
        default_value_t = 86400,
        global = true
    )]
    pub stream_link_secs: u64,
    /// Seconds a signed "all stems" download link stays valid.
    #[arg(
        long,
        env = "WAVEKEEP_STEMS_LINK_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub stems_link_secs: u64,
    /// Address-space limit of each sandboxed media decoder process, in MiB.
    #[arg(
        long,
        env = "WAVEKEEP_MEDIA_MEMORY_MB",
        default_value_t = 2048,
        global = true
    )]
    pub media_memory_mb: u64,
    /// Measure every HTTP request per route (counts and latencies) for the
    /// dashboard and `/metrics`.
    #[arg(long, env = "WAVEKEEP_INSTRUMENTATION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub instrumentation: bool,
    /// `/metrics` on the main listener: `admin` (admins' sessions and API
    /// keys, and the metrics token) or `off`.
    #[arg(long, env = "WAVEKEEP_METRICS", default_value = "admin", value_parser = ["admin", "off"], global = true)]
    pub metrics: String,
    /// A bearer token a Prometheus scraper may use for `/metrics`.
    #[arg(
        long,
        env = "WAVEKEEP_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<SecretString>,
    /// Also serve `/metrics` without authentication on this address of its
    /// own (keep it private: loopback or an internal network).
    #[arg(long, env = "WAVEKEEP_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// Alert when this share of requests fails over 5 minutes (high).
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_ERROR_RATE",
        default_value_t = 0.05,
        global = true
    )]
    pub alert_error_rate: f64,
    /// … and this share (critical).
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_ERROR_RATE_CRITICAL",
        default_value_t = 0.15,
        global = true
    )]
    pub alert_error_rate_critical: f64,
    /// Alert when p95 latency over 5 minutes exceeds this (ms, high) …
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_P95_MS",
        default_value_t = 2000.0,
        global = true
    )]
    pub alert_p95_ms: f64,
    /// … and this (ms, critical).
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_P95_CRITICAL_MS",
        default_value_t = 5000.0,
        global = true
    )]
    pub alert_p95_critical_ms: f64,
    /// Alert when more jobs than this are waiting.
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_QUEUE_LENGTH",
        default_value_t = 100,
        global = true
    )]
    pub alert_queue_length: i64,
    /// Alert when this share of the database pool is in use.
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_POOL_USE",
        default_value_t = 0.8,
        global = true
    )]
    pub alert_pool_use: f64,
    /// Alert when memory grows faster than this (MB an hour, over 15 minutes).
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_MEMORY_GROWTH_MB_PER_HOUR",
        default_value_t = 10.0,
        global = true
    )]
    pub alert_memory_growth_mb_per_hour: f64,
    /// Alert when the data directory's disk has less free space (MiB).
    #[arg(
        long,
        env = "WAVEKEEP_ALERT_DISK_FREE_MB",
        default_value_t = 1024,
        global = true
    )]
    pub alert_disk_free_mb: u64,
    /// The speech-to-text provider (`WAVEKEEP_STT_*`).
    #[command(flatten)]
    pub stt: stt::SttConfig,
    /// Where stored files live (`WAVEKEEP_STORAGE`, `WAVEKEEP_S3_*`).
    #[command(flatten)]
    pub storage: storage::StorageConfig,
    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(
        long,
        env = "WAVEKEEP_LOG",
        default_value = "info,sqlx=warn",
        global = true
    )]
    pub log: String,
}

impl Config {
    /// The database URL: the configured one, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => {
                let dir =
                    std::path::absolute(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
                format!("sqlite://{}?mode=rwc", dir.join("wavekeep.db").display())
            }
        }
    }

    pub fn settings(&self) -> app::settings::Settings {
        within_store_limits(app::settings::Settings {
            data_dir: self.data_dir.clone(),
            pool: app::db::PoolSettings {
                max_connections: self.db_max_connections.max(1),
                min_connections: self.db_min_connections,
                idle_timeout: Duration::from_secs(self.db_idle_timeout_secs),
                acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs.max(1)),
                sqlite_full_sync: self.sqlite_synchronous != "normal",
                allow_unsafe_postgres: self.allow_unsafe_postgres,
            },
            public_url: self.public_url.clone(),
            trust_proxy: self.trust_proxy,
            session_ttl: Duration::from_secs(self.session_ttl_hours.max(1) * 3600),
            login_max_failures: self.login_max_failures,
            login_window: Duration::from_secs(self.login_window_secs.max(1)),
            login_max_failures_per_hour: self.login_max_failures_per_hour.max(1),
            register_per_hour: self.register_per_hour,
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_idle: Duration::from_secs(self.body_idle_secs.max(1)),
            body_min_rate: self.body_min_rate,
            drain_timeout: Duration::from_secs(self.drain_secs),
            body_limit_bytes: self.body_limit_bytes.max(1024),
            queue_max_depth: self.queue_max_depth.max(1),
            job_retention: Duration::from_secs(self.job_retention_days * 24 * 3600),
            upload_max_bytes: self.upload_max_mb.max(1) * 1024 * 1024,
            default_quota_bytes: self.quota_mb * 1024 * 1024,
            upload_expiry: Duration::from_secs(self.upload_expiry_hours.max(1) * 3600),
            api_rate_per_minute: self.api_rate_per_minute.max(1),
            api_rate_burst: self.api_rate_burst.max(1),
            media_exe: None,
            import_root: self.import_root.clone(),
            media_memory_mb: self.media_memory_mb.max(256),
            job_lease: Duration::from_secs(self.job_lease_secs.max(2)),
            download_link_ttl: Duration::from_secs(self.download_link_secs.max(1)),
            stream_link_ttl: Duration::from_secs(self.stream_link_secs.max(1)),
            stems_link_ttl: Duration::from_secs(self.stems_link_secs.max(1)),
            instrumentation: self.instrumentation,
            metrics: if self.metrics == "off" {
                app::settings::MetricsAccess::Off
            } else {
                app::settings::MetricsAccess::Admin
            },
            metrics_token: self.metrics_token.clone(),
            alerts: app::settings::AlertThresholds {
                error_rate_high: self.alert_error_rate,
                error_rate_critical: self.alert_error_rate_critical,
                p95_high_ms: self.alert_p95_ms,
                p95_critical_ms: self.alert_p95_critical_ms,
                min_requests: app::settings::AlertThresholds::default().min_requests,
                queue_length: self.alert_queue_length,
                pool_use: self.alert_pool_use,
                memory_growth_mb_per_hour: self.alert_memory_growth_mb_per_hour,
                disk_free_bytes: self.alert_disk_free_mb * 1024 * 1024,
            },
            stt: self.stt.settings(),
            object_store: self.storage.settings(),
        })
    }
}

/// The largest object S3 copies inside a bucket in one request: uploads on
/// object storage are copied into their content address.
const S3_COPY_MAX: u64 = 5 * 1024 * 1024 * 1024;

/// Lowers the largest upload to what the object store can take.
fn within_store_limits(mut s: app::settings::Settings) -> app::settings::Settings {
    if s.object_store.is_some() && s.upload_max_bytes > S3_COPY_MAX {
        tracing::warn!(
            "WAVEKEEP_UPLOAD_MAX_MB is above 5 GiB, the largest file S3 copies in one request: uploads are limited to 5 GiB"
        );
        s.upload_max_bytes = S3_COPY_MAX;
    }
    s
}
