//! The database breaker's guard, around every route. While the breaker is
//! open, a reading request (GET, HEAD) gets a few milliseconds to answer
//! from what the process holds (a cached listing, an embedded asset, a
//! signed file) and `503` + `Retry-After` otherwise; any other request is
//! answered `503` before it starts, so nothing half-happens. While the
//! database answers, a reading request is answered `503` the moment the
//! breaker opens instead of waiting out the pool's acquire timeout; a
//! writing request already running is never cut off (it may have committed,
//! or hold an upload's lease): it ends by itself, with its own answer or
//! error. `/healthz` and `/readyz` always run: they say how things stand.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;

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
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if breaker.is_open() {
        if !reading {
            return down();
        }
        return match tokio::time::timeout(OPEN_GRACE, next.run(req)).await {
            Ok(res) => res,
            Err(_) => down(),
        };
    }
    let res = if reading {
        let opened = breaker.opened();
        tokio::select! {
            biased;
            res = next.run(req) => res,
            () = opened => return down(),
        }
    } else {
        next.run(req).await
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
