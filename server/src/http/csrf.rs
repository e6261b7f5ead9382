//! Cross-site request refusal. Leptos server functions have no CSRF token of
//! their own (leptos#3786), so every state-changing request (anything but
//! GET / HEAD / OPTIONS) that a browser marks as cross-site is refused: by
//! `Sec-Fetch-Site: cross-site`, or by an `Origin` that is neither this host
//! nor the configured public URL. Clients that send neither header (scripts,
//! API keys) are not browsers riding a cookie and pass.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{HOST, ORIGIN};
use http::StatusCode;

use app::state::AppState;

pub async fn refuse_cross_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return refused();
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !same_origin(origin, host, &state.settings.public_url) {
            return refused();
        }
    }
    next.run(req).await
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
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "error": "cross-site request refused" })),
    )
        .into_response()
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
