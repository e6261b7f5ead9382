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
    /// 403 with the reason (a bad signed link, a cross-site request).
    #[error("{0}")]
    Denied(String),
    #[error("not found")]
    NotFound,
    /// 404 with the reason, for things that exist but lack what was asked.
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    RangeNotSatisfiable(String),
    #[error("{0}")]
    Locked(String),
    /// tus's 460: the bytes do not match their checksum.
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("{0}")]
    PayloadTooLarge(String),
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

impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            AppError::BadRequest(_) => S::BAD_REQUEST,
            AppError::Unauthorized | AppError::InvalidCredentials => S::UNAUTHORIZED,
            AppError::Forbidden | AppError::Denied(_) => S::FORBIDDEN,
            AppError::NotFound | AppError::Missing(_) => S::NOT_FOUND,
            AppError::MethodNotAllowed(_) => S::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => S::CONFLICT,
            AppError::Gone(_) => S::GONE,
            AppError::PreconditionFailed(_) => S::PRECONDITION_FAILED,
            AppError::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            AppError::RangeNotSatisfiable(_) => S::RANGE_NOT_SATISFIABLE,
            AppError::Locked(_) => S::LOCKED,
            AppError::ChecksumMismatch(_) => S::from_u16(460).unwrap_or(S::BAD_REQUEST),
            AppError::PayloadTooLarge(_) => S::PAYLOAD_TOO_LARGE,
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
            _ => None,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
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

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("database pool timed out");
                AppError::Unavailable("the database is busy; try again shortly".into())
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
        res
    }
}
