//! One error type for the whole app, and the policy for it.
//!
//! * Every failure a caller can act on has its own variant, and each variant
//!   knows its HTTP status (`AppError::status`).
//! * The database layer turns "row not found" into `NotFound` and a unique
//!   violation into `Conflict` where that means something to the user; any
//!   other internal cause is logged once, where it is converted (`internal`),
//!   and the caller sees only "something went wrong on our side". Database
//!   text never reaches the client.
//! * Server functions return `Result<T, AppError>`. When the error is
//!   encoded for the wire (`FromServerFnError::ser`) its status and, for 429,
//!   `Retry-After` are set on the response, so the HTTP status is right for
//!   browsers, scripts and tests alike. Malformed arguments become 400.
//! * Plain axum routes return `AppError` directly (`IntoResponse`): a JSON
//!   body `{"error": "..."}` with the same status. Every such body in the
//!   server is made here, nowhere by hand; routes that add headers (tus,
//!   media ranges) add them to this response.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("please sign in first")]
    Unauthorized,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("you are not allowed to do that")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Any other status, with its reason: what the HTTP-only routes (tus,
    /// media links, the cross-site guard) answer besides the above (403 or
    /// 404 with a reason, 405, 410, 412, 415, 416, 423, tus's 460). Made by
    /// the constructors below. Server functions never return it, so the
    /// browser's copy of this type (which decodes their errors) leaves it
    /// out and stays small.
    #[cfg(feature = "ssr")]
    #[error("{message}")]
    Http { status: u16, message: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 507: the disk is full; nothing was kept.
    #[error("{}", DISK_FULL)]
    DiskFull,
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("the server is busy; try again in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error("could not reach the server: {0}")]
    Network(String),
    #[error("something went wrong on our side")]
    Internal,
}

pub type AppResult<T> = Result<T, AppError>;

/// What a request that needs the database hears while it does not answer.
pub const DATABASE_DOWN: &str = "the database is not answering; try again in a few seconds";
/// What a request hears when the database is there but too busy to take
/// it (the pool had no free connection, or SQLite's write lock stayed
/// taken): 503 with `Retry-After: 1`.
pub const DATABASE_BUSY: &str = "the database is busy; try again shortly";
/// `Retry-After` (seconds) with `DATABASE_DOWN`.
pub const DATABASE_RETRY_SECS: u64 = 2;
/// What a write that found the disk full hears (507).
pub const DISK_FULL: &str =
    "the server's disk is full: nothing was kept; try again once space is freed";

/// Whether `e` says the disk (or the disk quota) is full: `ENOSPC`, `EDQUOT`.
#[cfg(feature = "ssr")]
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            AppError::BadRequest(_) => S::BAD_REQUEST,
            AppError::Unauthorized | AppError::InvalidCredentials => S::UNAUTHORIZED,
            AppError::Forbidden => S::FORBIDDEN,
            AppError::NotFound => S::NOT_FOUND,
            AppError::Conflict(_) => S::CONFLICT,
            #[cfg(feature = "ssr")]
            AppError::Http { status, .. } => {
                S::from_u16(*status).unwrap_or(S::INTERNAL_SERVER_ERROR)
            }
            AppError::PayloadTooLarge(_) => S::PAYLOAD_TOO_LARGE,
            AppError::DiskFull => S::INSUFFICIENT_STORAGE,
            AppError::TooManyRequests { .. } => S::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Overloaded { .. } => S::SERVICE_UNAVAILABLE,
            AppError::Network(_) => S::BAD_GATEWAY,
            AppError::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds for a `Retry-After` header, when the error carries one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests { retry_after_secs }
            | AppError::Overloaded { retry_after_secs } => Some(*retry_after_secs),
            AppError::Unavailable(m) if m == DATABASE_DOWN => Some(DATABASE_RETRY_SECS),
            AppError::Unavailable(m) if m == DATABASE_BUSY => Some(1),
            _ => None,
        }
    }

    /// 503: the database does not answer (the breaker is open, or this
    /// request met a connection error); `Retry-After` says when to come back.
    pub fn database_down() -> Self {
        AppError::Unavailable(DATABASE_DOWN.into())
    }

    /// Whether this is `database_down`.
    pub fn is_database_down(&self) -> bool {
        matches!(self, AppError::Unavailable(m) if m == DATABASE_DOWN)
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }

    /// 403 with the reason (a bad signed link, a cross-site request).
    #[cfg(feature = "ssr")]
    pub fn denied(msg: impl Into<String>) -> Self {
        Self::http(403, msg)
    }

    /// 404 with the reason, for things that exist but lack what was asked.
    #[cfg(feature = "ssr")]
    pub fn missing(msg: impl Into<String>) -> Self {
        Self::http(404, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn method_not_allowed(msg: impl Into<String>) -> Self {
        Self::http(405, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn gone(msg: impl Into<String>) -> Self {
        Self::http(410, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn precondition_failed(msg: impl Into<String>) -> Self {
        Self::http(412, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn unsupported_media_type(msg: impl Into<String>) -> Self {
        Self::http(415, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn range_not_satisfiable(msg: impl Into<String>) -> Self {
        Self::http(416, msg)
    }

    #[cfg(feature = "ssr")]
    pub fn locked(msg: impl Into<String>) -> Self {
        Self::http(423, msg)
    }

    /// tus's 460: the bytes do not match their checksum.
    #[cfg(feature = "ssr")]
    pub fn checksum_mismatch(msg: impl Into<String>) -> Self {
        Self::http(460, msg)
    }

    #[cfg(feature = "ssr")]
    fn http(status: u16, msg: impl Into<String>) -> Self {
        AppError::Http {
            status,
            message: msg.into(),
        }
    }

    /// 507: the disk wavekeep writes to is full; nothing was kept.
    #[cfg(feature = "ssr")]
    pub fn disk_full() -> Self {
        AppError::DiskFull
    }

    /// A failed write or read: 507 when the disk is full, else internal.
    #[cfg(feature = "ssr")]
    pub fn io(context: &str, cause: std::io::Error) -> Self {
        if is_disk_full(&cause) {
            tracing::error!(error = %cause, "{context}: the disk is full");
            Self::disk_full()
        } else {
            Self::internal(context, cause)
        }
    }

    /// Logs an internal cause once and hides it from the caller.
    #[cfg(feature = "ssr")]
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        AppError::Internal
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::BadRequest(format!("malformed request: {m}"))
            }
            ServerFnErrorErr::Request(m) | ServerFnErrorErr::Response(m) => AppError::Network(m),
            ServerFnErrorErr::UnsupportedRequestMethod(m) => {
                AppError::BadRequest(format!("unsupported method: {m}"))
            }
            ServerFnErrorErr::MissingArg(m) => AppError::BadRequest(format!("missing field: {m}")),
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!(error = %other, "server function failed");
                #[cfg(not(feature = "ssr"))]
                let _ = other;
                AppError::Internal
            }
        }
    }

    fn ser(&self) -> server_fn::Bytes {
        #[cfg(feature = "ssr")]
        if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(self.status());
            if let Some(secs) = self.retry_after() {
                if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                    res.insert_header(http::header::RETRY_AFTER, v);
                }
            }
        }
        serde_json::to_vec(self)
            .map(Into::into)
            .unwrap_or_else(|_| server_fn::Bytes::from_static(b"\"Internal\""))
    }
}

/// Marks a response that met an unreachable database.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Copy)]
pub struct DatabaseDown;

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("database pool timed out");
                AppError::Unavailable(DATABASE_BUSY.into())
            }
            // SQLite's FULL (13), PostgreSQL's disk_full (53100).
            sqlx::Error::Database(d)
                if d.code().is_some_and(|c| {
                    c == "53100" || (c.len() < 5 && c.parse::<u32>().is_ok_and(|n| n & 0xff == 13))
                }) =>
            {
                tracing::error!(error = %d, "the database's disk is full");
                AppError::disk_full()
            }
            // SQLite's BUSY (5) and LOCKED (6), extended codes included:
            // the write lock stayed taken past the busy timeout. Contention,
            // not a fault of the request: worth a retry, not a 500.
            sqlx::Error::Database(d)
                if d.code().is_some_and(|c| {
                    c.len() < 5 && c.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
                }) =>
            {
                tracing::warn!(error = %d, "the database stayed locked");
                AppError::Unavailable(DATABASE_BUSY.into())
            }
            e if crate::db::breaker::is_unreachable(&e) => {
                tracing::warn!(error = %e, "the database is unreachable");
                AppError::database_down()
            }
            other => AppError::internal("database error", other),
        }
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        let mut res = (
            status,
            axum::Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        if self.is_database_down() {
            // The router's guard opens the breaker when it sees this.
            res.extensions_mut().insert(DatabaseDown);
        }
        res
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use sqlx::{Connection, Executor};

    /// SQLite's write lock held by another connection past the busy
    /// timeout is a 503 to retry, not a 500.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_busy_not_internal() {
        let path = std::env::temp_dir().join(format!("wk-busy-{}.db", std::process::id()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.expect("open");
        holder
            .execute("PRAGMA journal_mode = WAL")
            .await
            .expect("wal");
        holder
            .execute("BEGIN IMMEDIATE")
            .await
            .expect("take the write lock");
        let mut other = sqlx::SqliteConnection::connect(&url).await.expect("open");
        other
            .execute("PRAGMA busy_timeout = 0")
            .await
            .expect("no wait");
        let err = other
            .execute("BEGIN IMMEDIATE")
            .await
            .expect_err("the lock is held");
        let app = AppError::from(err);
        assert_eq!(
            app.status(),
            http::StatusCode::SERVICE_UNAVAILABLE,
            "{app:?}"
        );
        assert_eq!(app.retry_after(), Some(1));
        assert!(!app.is_database_down());
        drop(holder);
        drop(other);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("db-wal"));
        let _ = std::fs::remove_file(path.with_extension("db-shm"));
    }
}
