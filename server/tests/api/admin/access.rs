//! Admin routes refuse visitors (401) and users (403); `/metrics` is
//! Prometheus text, and guarded.

use http::StatusCode;
use serde_json::json;

use crate::helpers::{form, get, user_id, with_bearer, with_cookie, Backend, TestApp};

use super::*;

/// Every admin route, admin server function and `/metrics`: 401 for
/// visitors, 403 for users, 2xx for admins (each admin call valid).
async fn admin_routes_refuse_visitors_and_users(b: Backend) {
    let app = TestApp::new(b).await;
    let user = app.register("ana@example.com").await;
    let admin = app.admin("root@example.com").await;
    let ana = user_id(&app, "ana@example.com").await;

    // One object per state-changing call, so each admin call succeeds.
    let dead_rest = job_in_state(&app, "cleanup", "dead").await;
    let dead_fn = job_in_state(&app, "cleanup", "dead").await;
    let discard_rest = job_in_state(&app, "cleanup", "cancelled").await;
    let discard_fn = job_in_state(&app, "cleanup", "cancelled").await;
    let queued_rest = job_in_state(&app, "storage", "queued").await;
    let queued_fn = job_in_state(&app, "storage", "queued").await;

    let s = |v: i64| v.to_string();
    let f = |path: &'static str, fields: Vec<(&'static str, String)>| -> Call {
        Box::new(move || {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form(path, &pairs)
        })
    };
    let calls: Vec<(String, Call, StatusCode)> = vec![
        (
            "GET /api/admin/performance".into(),
            Box::new(|| get("/api/admin/performance")),
            StatusCode::OK,
        ),
        (
            "GET /api/admin/jobs".into(),
            Box::new(|| get("/api/admin/jobs")),
            StatusCode::OK,
        ),
        (
            "GET /api/admin/jobs?state=dead".into(),
            Box::new(|| get("/api/admin/jobs?state=dead")),
            StatusCode::OK,
        ),
        (
            "GET /api/admin/jobs/{id}".into(),
            Box::new(move || get(&format!("/api/admin/jobs/{dead_rest}"))),
            StatusCode::OK,
        ),
        (
            "POST /api/admin/jobs".into(),
            Box::new(move || {
                json_req(
                    "POST",
                    "/api/admin/jobs",
                    json!({ "kind": "storage", "target": ana }),
                )
            }),
            StatusCode::CREATED,
        ),
        (
            "POST /api/admin/jobs/{id}/retry".into(),
            Box::new(move || post(&format!("/api/admin/jobs/{dead_rest}/retry"))),
            StatusCode::OK,
        ),
        (
            "POST /api/admin/jobs/{id}/cancel".into(),
            Box::new(move || post(&format!("/api/admin/jobs/{queued_rest}/cancel"))),
            StatusCode::OK,
        ),
        (
            "DELETE /api/admin/jobs/{id}".into(),
            Box::new(move || delete(&format!("/api/admin/jobs/{discard_rest}"))),
            StatusCode::NO_CONTENT,
        ),
        (
            "POST /api/admin/queues/{kind}/pause".into(),
            Box::new(|| post("/api/admin/queues/preview/pause")),
            StatusCode::NO_CONTENT,
        ),
        (
            "POST /api/admin/queues/{kind}/resume".into(),
            Box::new(|| post("/api/admin/queues/preview/resume")),
            StatusCode::NO_CONTENT,
        ),
        (
            "POST /api/admin/refresh-storage/{id}".into(),
            Box::new(move || post(&format!("/api/admin/refresh-storage/{ana}"))),
            StatusCode::OK,
        ),
        (
            "GET /metrics".into(),
            Box::new(|| get("/metrics")),
            StatusCode::OK,
        ),
        (
            "fn dashboard/performance".into(),
            f("/api/dashboard/performance", vec![]),
            StatusCode::OK,
        ),
        (
            "fn dashboard/retry".into(),
            f("/api/dashboard/retry", vec![("id", s(dead_fn))]),
            StatusCode::OK,
        ),
        (
            "fn dashboard/cancel".into(),
            f("/api/dashboard/cancel", vec![("id", s(queued_fn))]),
            StatusCode::OK,
        ),
        (
            "fn dashboard/discard".into(),
            f("/api/dashboard/discard", vec![("id", s(discard_fn))]),
            StatusCode::OK,
        ),
        (
            "fn dashboard/pause".into(),
            f(
                "/api/dashboard/pause",
                vec![("kind", "waveform".into()), ("paused", "false".into())],
            ),
            StatusCode::OK,
        ),
        (
            "fn dashboard/refresh_storage".into(),
            f("/api/dashboard/refresh_storage", vec![("user_id", s(ana))]),
            StatusCode::OK,
        ),
        (
            "fn admin/users".into(),
            f("/api/admin/users", vec![]),
            StatusCode::OK,
        ),
        (
            "fn admin/set_role".into(),
            f(
                "/api/admin/set_role",
                vec![("user_id", s(ana)), ("role", "User".into())],
            ),
            StatusCode::OK,
        ),
    ];
    for (name, call, ok) in &calls {
        let res = app.send(call()).await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "{name} anonymous: {}",
            res.text
        );
        let res = app.send(with_cookie(call(), &user)).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{name} as a user: {}",
            res.text
        );
        let res = app.send(with_cookie(call(), &admin)).await;
        assert_eq!(res.status, *ok, "{name} as an admin: {}", res.text);
    }
    // The page itself: the sign-in prompt, the 403 page, the dashboard.
    assert_eq!(
        app.send(get("/admin")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let res = app.send(with_cookie(get("/admin"), &user)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app.send(with_cookie(get("/admin"), &admin)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.text.contains("data-testid=\"dashboard\""),
        "{}",
        res.text
    );
    // The event stream too (its body never ends: only the status is read).
    for (who, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(&user), StatusCode::FORBIDDEN),
    ] {
        let req = get("/api/admin/events");
        let req = match who {
            Some(c) => with_cookie(req, c),
            None => req,
        };
        assert_eq!(app.send(req).await.status, status);
    }
}

/// `/metrics`: Prometheus text for admins and the scraper token; off is 404.
async fn metrics_are_prometheus_text_and_guarded(b: Backend) {
    let app = TestApp::with(b, |s| {
        s.metrics_token = Some("scrape-me-0123456789".to_string().into());
    })
    .await;
    let admin = app.admin("root@example.com").await;
    app.send(get("/healthz")).await;
    let res = app.send(with_cookie(get("/metrics"), &admin)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.header("content-type").starts_with("text/plain"),
        "{}",
        res.header("content-type")
    );
    for needle in [
        "# TYPE http_request_duration_seconds histogram",
        "http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\"",
        "http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}",
        "process_resident_memory_bytes",
    ] {
        assert!(
            res.text.contains(needle),
            "/metrics lacks {needle}:\n{}",
            res.text
        );
    }
    let res = app
        .send(with_bearer(get("/metrics"), "scrape-me-0123456789"))
        .await;
    assert_eq!(res.status, StatusCode::OK, "the scraper token works");
    let res = app.send(with_bearer(get("/metrics"), "wrong-token")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    let off = TestApp::with(b, |s| s.metrics = app::settings::MetricsAccess::Off).await;
    let admin = off.admin("root@example.com").await;
    assert_eq!(
        off.send(with_cookie(get("/metrics"), &admin)).await.status,
        StatusCode::NOT_FOUND
    );
}

crate::both_backends!(
    admin_routes_refuse_visitors_and_users,
    metrics_are_prometheus_text_and_guarded,
);
