//! The database breaker's guard, around every route: while the database
//! answers, a request runs as usual but is answered `503` + `Retry-After`
//! the moment the breaker opens (instead of waiting out the pool's acquire
//! timeout); while the breaker is open, a request gets a few milliseconds
//! to answer from what the process holds (a cached listing, an embedded
//! asset, a signed file) and `503` otherwise. `/healthz` and `/readyz`
//! always run: they say how things stand.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::errors::{AppError, DatabaseDown};
use app::state::AppState;

/// How long a request may take while the breaker is open: enough for any
/// answer from memory, far less than a client's patience.
pub const OPEN_GRACE: Duration = Duration::from_millis(25);

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let breaker = state.db.breaker();
    if breaker.is_open() {
        return match tokio::time::timeout(OPEN_GRACE, next.run(req)).await {
            Ok(res) => res,
            Err(_) => down(),
        };
    }
    let opened = breaker.opened();
    let res = tokio::select! {
        biased;
        res = next.run(req) => res,
        () = opened => return down(),
    };
    if res.extensions().get::<DatabaseDown>().is_some() {
        breaker.trip("a request found the database unreachable");
    }
    res
}

fn down() -> Response {
    metrics::counter!("db_breaker_rejected_total").increment(1);
    AppError::database_down().into_response()
}
