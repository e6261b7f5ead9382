//! tus answers and headers: the `Tus` reply (a status, the protocol's
//! headers, and on failure an `AppError`, whose JSON body every error
//! shares), the header names, `Upload-Metadata` parsing, and the checks
//! every request makes.

use std::time::{Duration, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use app::errors::AppError;

use crate::uploads::Ingested;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,termination,checksum,expiration,concatenation";
pub const CHECKSUMS: &str = "sha1,sha256,md5";
pub const BASE: &str = "/api/uploads";
pub const OCTET: &str = "application/offset+octet-stream";
/// Largest `Upload-Metadata` header accepted.
pub const MAX_METADATA: usize = 16 * 1024;

pub static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub static TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub static UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
pub static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");

/// A tus answer: status and headers, and on failure the error (whose body
/// is `{"error": …}` like every other).
pub struct Tus {
    pub status: StatusCode,
    /// Boxed: answers travel as `Err` values and stay small.
    pub headers: Box<HeaderMap>,
    error: Option<AppError>,
}

pub type TusResult = Result<Tus, Tus>;

impl Tus {
    pub fn new(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(VERSION));
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        Tus {
            status,
            headers: Box::new(headers),
            error: None,
        }
    }

    pub fn header(mut self, name: &HeaderName, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.insert(name.clone(), v);
        }
        self
    }

    /// Names the rows a finished upload became.
    pub fn ingested(self, done: &Ingested) -> Self {
        self.header(&HeaderName::from_static("wavekeep-track-id"), done.track_id)
            .header(
                &HeaderName::from_static("wavekeep-version-id"),
                done.version_id,
            )
            .header(&HeaderName::from_static("wavekeep-asset-id"), done.asset_id)
            .header(
                &HeaderName::from_static("wavekeep-track-url"),
                format!("/api/v1/tracks/{}", done.track_id),
            )
    }
}

impl From<AppError> for Tus {
    fn from(e: AppError) -> Self {
        let mut t = Tus::new(e.status());
        t.error = Some(e);
        t
    }
}

impl From<sqlx::Error> for Tus {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for Tus {
    fn into_response(self) -> Response {
        let mut res = match self.error {
            Some(e) => e.into_response(),
            None => self.status.into_response(),
        };
        res.headers_mut().extend(*self.headers);
        res
    }
}

pub fn respond(r: TusResult) -> Response {
    match r {
        Ok(t) | Err(t) => t.into_response(),
    }
}

pub fn bad(message: impl Into<String>) -> Tus {
    AppError::BadRequest(message.into()).into()
}

pub fn gone() -> Tus {
    AppError::gone("this upload expired before it was finished; start it again").into()
}

pub fn locked() -> Tus {
    AppError::locked("another request is writing to this upload; try again when it has finished")
        .into()
}

/// A request header's value, trimmed.
pub fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub fn check_version(headers: &HeaderMap) -> Result<(), Tus> {
    match header(headers, &TUS_RESUMABLE) {
        Some(VERSION) => Ok(()),
        _ => Err(Tus::from(AppError::precondition_failed(
            "this server speaks tus 1.0.0 (send Tus-Resumable: 1.0.0)",
        ))
        .header(&TUS_VERSION, VERSION)),
    }
}

pub fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// Parsed `Upload-Metadata`: `key base64value` pairs separated by commas.
pub fn parse_metadata(raw: &str) -> Result<Vec<(String, String)>, Tus> {
    if raw.len() > MAX_METADATA {
        return Err(bad(format!(
            "Upload-Metadata is larger than {MAX_METADATA} bytes"
        )));
    }
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key: String = it.next().unwrap_or_default().chars().take(64).collect();
        let value = match it.next().map(str::trim) {
            Some(v) if !v.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| {
                        bad(format!(
                            "Upload-Metadata: the value of \"{key}\" is not base64"
                        ))
                    })?;
                String::from_utf8(bytes).map_err(|_| {
                    bad(format!(
                        "Upload-Metadata: the value of \"{key}\" is not UTF-8 text"
                    ))
                })?
            }
            _ => String::new(),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// The upload id in a URL or path (`…/api/uploads/<id>`).
pub fn id_from_url(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}
