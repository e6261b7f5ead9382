//! HTTP instrumentation: every answer counted and timed per matched route,
//! and `/metrics` in Prometheus' text format.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use secrecy::ExposeSecret;

use app::auth::session;
use app::errors::AppError;
use app::settings::MetricsAccess;
use app::state::AppState;
use app::telemetry::{self, HTTP_DURATION, HTTP_REQUESTS};

/// The server functions share one axum route; they are few and fixed, so
/// each is labelled by its own path (unknown ones, answered 404, are not).
const SERVER_FNS: &str = "/api/{*fn_name}";

/// Middleware: counts the answer and records the time to its headers,
/// labelled by method and matched route (never by raw path, so the label
/// set stays small).
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    let route = match matched {
        Some(m) if m == SERVER_FNS && status != StatusCode::NOT_FOUND => path,
        Some(m) => m,
        None if status == StatusCode::NOT_FOUND => "(not found)".to_owned(),
        None => "(site files)".to_owned(),
    };
    metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed());
    metrics::counter!(
        HTTP_REQUESTS,
        "route" => route,
        "method" => method,
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    res
}

/// `GET /metrics` on the main listener: the metrics token, or an admin's
/// session or API key; 404 when turned off.
pub async fn prometheus(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if state.settings.metrics == MetricsAccess::Off {
        return Err(AppError::NotFound);
    }
    let token_ok = state.settings.metrics_token.as_ref().is_some_and(|t| {
        session::bearer_token(&headers).is_some_and(|given| {
            // Compare hashes: equal length, no early exit on the secret.
            session::hash_token(given) == session::hash_token(t.expose_secret())
        })
    });
    if !token_ok {
        let viewer = session::resolve(&state.db, &state.viewers, &headers)
            .await?
            .ok_or(AppError::Unauthorized)?;
        if !viewer.is_admin() {
            return Err(AppError::Forbidden);
        }
    }
    Ok(text())
}

/// The exposition itself (also what a separate metrics listener serves).
pub fn text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::global().prometheus_text(),
    )
        .into_response()
}
