//! Cross-site request refusal. Leptos server functions have no CSRF token of
//! their own (leptos#3786), so every state-changing request (anything but
//! GET / HEAD / OPTIONS) that a browser marks as cross-site is refused: by
//! `Sec-Fetch-Site: cross-site`, or by an `Origin` that is neither this host
//! nor the configured public URL. Clients that send neither header (scripts,
//! API keys) are not browsers riding a cookie and pass.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{HOST, ORIGIN};
use http::Request;

use app::errors::AppError;
use tower_http::validate_request::ValidateRequest;

/// The check, for `ValidateRequestHeaderLayer::custom`: synchronous, so it
/// adds no future or service clone to a request.
#[derive(Clone)]
pub struct RefuseCrossSite {
    public_url: Arc<str>,
}

impl RefuseCrossSite {
    pub fn new(public_url: &str) -> Self {
        RefuseCrossSite {
            public_url: Arc::from(public_url),
        }
    }
}

impl<B> ValidateRequest<B> for RefuseCrossSite {
    type ResponseBody = Body;

    fn validate(&mut self, req: &mut Request<B>) -> Result<(), Response> {
        if req.method().is_safe() {
            return Ok(());
        }
        let headers = req.headers();
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(refused());
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if !same_origin(origin, host, &self.public_url) {
                return Err(refused());
            }
        }
        Ok(())
    }
}

fn same_origin(origin: &str, host: &str, public_url: &str) -> bool {
    if origin == "null" {
        return false;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    (!authority.is_empty() && authority.eq_ignore_ascii_case(host))
        || origin.eq_ignore_ascii_case(public_url.trim_end_matches('/'))
}

fn refused() -> Response {
    AppError::denied("cross-site request refused").into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        let p = "https://wk.example.com";
        assert!(super::same_origin(
            "http://127.0.0.1:3000",
            "127.0.0.1:3000",
            p
        ));
        assert!(super::same_origin(
            "https://wk.example.com",
            "10.0.0.5:3000",
            p
        ));
        assert!(!super::same_origin(
            "https://evil.example",
            "127.0.0.1:3000",
            p
        ));
        assert!(!super::same_origin("null", "127.0.0.1:3000", p));
        assert!(!super::same_origin(
            "http://127.0.0.1:3000.evil",
            "127.0.0.1:3000",
            p
        ));
    }
}
