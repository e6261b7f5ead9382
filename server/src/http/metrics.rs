//! HTTP instrumentation: every answer counted and timed per matched route,
//! and `/metrics` in Prometheus' text format.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use secrecy::ExposeSecret;

use app::auth::session;
use app::errors::AppError;
use app::settings::MetricsAccess;
use app::state::AppState;
use app::telemetry::{self, HTTP_DURATION, HTTP_REQUESTS};

/// The server functions share one axum route; they are few and fixed, so
/// each is labelled by its own path (unknown paths are not).
const SERVER_FNS: &str = "/api/{*fn_name}";

/// The handles of one (method, route, status): resolved through the
/// recorder once per worker thread, then reused, so a request costs two
/// atomic updates and one lookup in a small thread-local map instead of
/// building and hashing metric keys (and no lock is shared between threads).
#[derive(Clone)]
struct Handles {
    duration: metrics::Histogram,
    requests: metrics::Counter,
}

thread_local! {
    static HANDLES: RefCell<HashMap<(http::Method, String, u16), Handles>> =
        RefCell::new(HashMap::new());
}

/// The method as a label: the standard ones by name, any other (clients may
/// send any token) as `OTHER`, so no request can add label values.
fn method_label(method: &http::Method) -> http::Method {
    use http::Method as M;
    match *method {
        M::GET | M::HEAD | M::POST | M::PUT | M::PATCH | M::DELETE | M::OPTIONS => method.clone(),
        _ => OTHER_METHOD.clone(),
    }
}

static OTHER_METHOD: std::sync::LazyLock<http::Method> = std::sync::LazyLock::new(|| {
    http::Method::from_bytes(b"OTHER").unwrap_or(http::Method::CONNECT)
});

fn handles(method: &http::Method, route: String, status: u16) -> Handles {
    let key = (method_label(method), route, status);
    if let Some(h) = HANDLES.with_borrow(|m| m.get(&key).cloned()) {
        return h;
    }
    let (method, route, status) = key;
    let h = Handles {
        duration: metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method.as_str().to_owned()),
        requests: metrics::counter!(
            HTTP_REQUESTS,
            "route" => route.clone(),
            "method" => method.as_str().to_owned(),
            "status" => status.to_string()
        ),
    };
    HANDLES.with_borrow_mut(|m| m.insert((method, route, status), h.clone()));
    h
}

/// `path` when it is a registered server function's: anything else posted
/// under `/api/` shares the route's label, so no request can add labels.
fn registered_fn(path: &str) -> Option<&'static str> {
    static PATHS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    PATHS
        .get_or_init(|| {
            leptos::server_fn::axum::server_fn_paths()
                .map(|(p, _)| p)
                .collect()
        })
        .get(path)
        .copied()
}

/// Layer: counts every answer and records the time to its headers,
/// labelled by method and matched route (never by raw path, so the label
/// set stays small). A plain tower service rather than `from_fn`: it adds
/// no boxed future or service clone to each request.
#[derive(Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Track<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.method().clone();
        let matched = req.extensions().get::<MatchedPath>().cloned();
        let fn_path = matched
            .as_ref()
            .filter(|m| m.as_str() == SERVER_FNS)
            .and_then(|_| registered_fn(req.uri().path()))
            .map(str::to_owned);
        TrackFuture {
            inner: self.inner.call(req),
            started: Instant::now(),
            method,
            matched,
            fn_path,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: http::Method,
        matched: Option<MatchedPath>,
        fn_path: Option<String>,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        if let Ok(res) = &res {
            let status = res.status();
            let route = match (this.matched.take(), this.fn_path.take()) {
                (Some(_), Some(path)) => path,
                (Some(m), _) => m.as_str().to_owned(),
                (None, _) if status == StatusCode::NOT_FOUND => "(not found)".to_owned(),
                (None, _) => "(site files)".to_owned(),
            };
            let h = handles(this.method, route, status.as_u16());
            h.duration.record(this.started.elapsed());
            h.requests.increment(1);
        }
        Poll::Ready(res)
    }
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
        let viewer = session::resolve(&state, &headers)
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
