//! The admin API, dashboard data and `/metrics`: who may call what, the
//! JSON they answer, and the job controls doing what they say.

use axum::body::Body;
use http::{header, Request};
use serde_json::Value;

use crate::helpers::TestApp;
use app::jobs::db::{self as q, NewJob};

mod access;
mod dashboard;
mod jobs;

pub fn json_req(method: &str, path: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn post(path: &str) -> Request<Body> {
    Request::post(path).body(Body::empty()).expect("request")
}

pub fn delete(path: &str) -> Request<Body> {
    Request::delete(path).body(Body::empty()).expect("request")
}

/// A job of `kind` in `state` (dead ones carry an error).
pub async fn job_in_state(app: &TestApp, kind: &str, state: &str) -> i64 {
    let id = q::enqueue_unbounded(&app.state.db, &NewJob::new(kind, "{}"))
        .await
        .expect("enqueue")
        .id();
    sqlx::query(
        "UPDATE jobs SET state = $1, attempts = max_attempts, last_error = 'the disk was gone', \
         finished_at = $2 WHERE id = $3",
    )
    .bind(state)
    .bind(app::db::now_ms())
    .bind(id)
    .execute(app.state.db.pool())
    .await
    .expect("set state");
    id
}

pub async fn job_state(app: &TestApp, id: i64) -> (String, i64) {
    sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("job")
}

type Call = Box<dyn Fn() -> Request<Body>>;
