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
    /// Largest request body accepted by forms, server functions and JSON routes.
    pub body_limit_bytes: usize,
    /// Most queued jobs before enqueues answer 503 (back-pressure).
    pub queue_max_depth: i64,
    /// How long finished jobs are kept before the cleanup job deletes them.
    pub job_retention: Duration,
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
            body_limit_bytes: 64 * 1024,
            queue_max_depth: 10_000,
            job_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Settings {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
