//! `/healthz` (the process answers) and `/readyz` (the database answers and
//! every migration is applied): plain 200 / 503 for load balancers.

use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;

use app::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let breaker = state.db.breaker().status();
    if breaker.open {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database has not answered for {:.1} s ({})\n",
                breaker.for_ms as f64 / 1000.0,
                breaker.reason
            ),
        );
    }
    if state.db.is_ready().await {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: database unreachable or not migrated\n".to_string(),
        )
    }
}
