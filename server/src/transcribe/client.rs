//! The HTTP client of the speech-to-text provider (reqwest with rustls): one
//! chunk per request, multipart as OpenAI documents it (`file`, `model`,
//! `language`, `response_format=verbose_json`, `timestamp_granularities[]`
//! for segments and words), and what its answer means for the job:
//! a transcript, a pause the provider asked for, a failure worth retrying,
//! or one that will not change.
//!
//! Retry rules (as OpenAI's own clients): `x-should-retry` decides when
//! sent; else 408, 409, 429 and 5xx, timeouts and resets are retried. A 429
//! whose code is `insufficient_quota`, a 401 / 403 and a 413 are not. The
//! pause after a 429 is `retry-after-ms`, else `Retry-After` (seconds or an
//! HTTP date), else `x-ratelimit-reset-requests` (`1s`, `6m0s`, `20ms`).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;

use app::settings::SttSettings;

use super::answer::{self, BadAnswer, ChunkResult};

/// What a failed request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// 429: nothing may be sent before `until_ms` (unix ms).
    RateLimited { until_ms: i64, message: String },
    /// The provider is failing (5xx, an answer that is not the protocol's):
    /// retry later.
    Transient(String),
    /// No answer (a timeout, a refused or broken connection): retry later.
    Unreachable(String),
    /// The request itself will not succeed (a bad file or key, no quota
    /// left, too large, an impossible answer).
    Permanent(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::RateLimited { message, .. }
            | ProviderError::Transient(message)
            | ProviderError::Unreachable(message)
            | ProviderError::Permanent(message) => f.write_str(message),
        }
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: SttSettings,
}

impl Client {
    pub fn new(settings: &SttSettings) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("wavekeep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client did not start: {e}"))?;
        Ok(Client {
            http,
            settings: settings.clone(),
        })
    }

    /// Whether a chunk of `len` bytes fits in one request (with the form's
    /// other fields); the message when it does not.
    pub fn check_size(&self, len: usize) -> Result<(), String> {
        if len as u64 + 4096 > self.settings.max_request_bytes {
            return Err(format!(
                "a chunk of {len} bytes is larger than the provider accepts ({} bytes)",
                self.settings.max_request_bytes
            ));
        }
        Ok(())
    }

    /// Sends one chunk (an MP3 of `chunk_ms` milliseconds).
    pub async fn transcribe(
        &self,
        bytes: Vec<u8>,
        chunk_ms: i64,
    ) -> Result<ChunkResult, ProviderError> {
        self.check_size(bytes.len())
            .map_err(ProviderError::Permanent)?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("chunk.mp3")
            .mime_str("audio/mpeg")
            .map_err(|e| ProviderError::Permanent(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.settings.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "segment")
            .text("timestamp_granularities[]", "word");
        if let Some(lang) = &self.settings.language {
            form = form.text("language", lang.clone());
        }
        let mut req = self.http.post(self.settings.endpoint()).multipart(form);
        if let Some(key) = &self.settings.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let res = req.send().await.map_err(|e| {
            ProviderError::Unreachable(if e.is_timeout() {
                format!(
                    "the provider did not answer within {} s",
                    self.settings.timeout.as_secs()
                )
            } else {
                format!("could not reach the provider: {}", without_url(&e))
            })
        })?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.map_err(|e| {
            ProviderError::Unreachable(format!(
                "the provider's answer broke off: {}",
                without_url(&e)
            ))
        })?;
        classify(status, &headers, &body, chunk_ms, SystemTime::now())
    }
}

/// reqwest's error without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "the provider");
    }
    s
}

/// What an answer means.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    chunk_ms: i64,
    now: SystemTime,
) -> Result<ChunkResult, ProviderError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = || -> String {
        let m = json
            .as_ref()
            .and_then(answer::error_message)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(body)
                    .trim()
                    .chars()
                    .take(300)
                    .collect()
            });
        let m = if m.is_empty() { status.to_string() } else { m };
        format!("the provider answered {}: {m}", status.as_u16())
    };
    let should_retry = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if status.is_success() {
        return answer::parse(body, chunk_ms).map_err(|e| match e {
            BadAnswer::Unreadable(m) => ProviderError::Transient(m),
            BadAnswer::Nonsense(m) => ProviderError::Permanent(m),
        });
    }
    let code = json.as_ref().and_then(answer::error_code);
    if status == StatusCode::TOO_MANY_REQUESTS && code.as_deref() == Some("insufficient_quota") {
        return Err(ProviderError::Permanent(message()));
    }
    match should_retry {
        Some("false") => return Err(ProviderError::Permanent(message())),
        Some("true") if status != StatusCode::TOO_MANY_REQUESTS => {
            return Err(ProviderError::Transient(message()))
        }
        _ => {}
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = retry_after(headers, now).unwrap_or(Duration::from_secs(10));
        let until = now
            .checked_add(wait)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| d.as_millis() as i64);
        return Err(ProviderError::RateLimited {
            until_ms: until,
            message: message(),
        });
    }
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::CONFLICT
        || status.is_server_error()
    {
        return Err(ProviderError::Transient(message()));
    }
    Err(ProviderError::Permanent(message()))
}

/// How long the provider asked us to wait.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_raw(headers, now).map(|d| d.clamp(Duration::from_millis(1), LONGEST_PAUSE))
}

/// A pause longer than this is taken as this (a provider's mistake must not
/// stop transcription for weeks).
const LONGEST_PAUSE: Duration = Duration::from_secs(24 * 3600);

fn retry_after_raw(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let secs = |s: f64| (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(1e9)));
    if let Some(d) = get("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| secs(ms / 1000.0))
    {
        return Some(d);
    }
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<f64>() {
            if let Some(d) = secs(s) {
                return Some(d);
            }
        } else if let Ok(at) = httpdate::parse_http_date(v) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    get("x-ratelimit-reset-requests").and_then(go_duration)
}

/// `1s`, `6m0s`, `20ms`, `2m59.56s`, `1h2m` → a duration.
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let (factor, unit_len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            return None;
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total > 0.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn waits_from_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "1500")]), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset-requests", "6m0s")]), now),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            go_duration("2m59.56s"),
            Some(Duration::from_secs_f64(179.56))
        );
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn what_answers_mean() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let c = |s: u16, h: &[(&str, &str)], body: &str| {
            classify(
                StatusCode::from_u16(s).expect("s"),
                &headers(h),
                body.as_bytes(),
                10_000,
                now,
            )
        };
        assert!(matches!(
            c(429, &[("retry-after", "2")], "{}"),
            Err(ProviderError::RateLimited {
                until_ms: 1_002_000,
                ..
            })
        ));
        assert!(matches!(
            c(429, &[], r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#),
            Err(ProviderError::Permanent(m)) if m.contains("exceeded your current quota")
        ));
        assert!(matches!(
            c(
                401,
                &[],
                r#"{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}"#
            ),
            Err(ProviderError::Permanent(_))
        ));
        assert!(matches!(
            c(413, &[], "<html>Request Entity Too Large</html>"),
            Err(ProviderError::Permanent(_))
        ));
        assert!(
            matches!(c(500, &[], r#"{"error":"boom"}"#), Err(ProviderError::Transient(m)) if m.contains("boom"))
        );
        assert!(matches!(
            c(503, &[("x-should-retry", "false")], ""),
            Err(ProviderError::Permanent(_))
        ));
        assert!(matches!(
            c(400, &[("x-should-retry", "true")], ""),
            Err(ProviderError::Transient(_))
        ));
        assert!(
            matches!(c(400, &[], r#"{"detail":"Invalid file"}"#), Err(ProviderError::Permanent(m)) if m.contains("Invalid file"))
        );
        assert!(matches!(
            c(200, &[], "{oops"),
            Err(ProviderError::Transient(_))
        ));
        assert!(c(200, &[], r#"{"text":"ok"}"#).is_ok());
    }
}
