//! The admin API, dashboard data and `/metrics`: who may call what, the
//! JSON they answer, and the job controls doing what they say.

use axum::body::Body;
use http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{form, get, user_id, with_bearer, with_cookie, Backend, TestApp};
use app::jobs::db::{self as q, NewJob};

fn json_req(method: &str, path: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn post(path: &str) -> Request<Body> {
    Request::post(path).body(Body::empty()).expect("request")
}

fn delete(path: &str) -> Request<Body> {
    Request::delete(path).body(Body::empty()).expect("request")
}

/// A job of `kind` in `state` (dead ones carry an error).
async fn job_in_state(app: &TestApp, kind: &str, state: &str) -> i64 {
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

async fn job_state(app: &TestApp, id: i64) -> (String, i64) {
    sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("job")
}

type Call = Box<dyn Fn() -> Request<Body>>;

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

/// The performance answer's shape, and requests showing up in it.
async fn performance_and_queue_status_answer_their_shape(b: Backend) {
    let app = TestApp::new(b).await;
    let admin = app.admin("root@example.com").await;
    for _ in 0..5 {
        assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);
    }
    app.send(get("/no/such/page")).await;
    // Unknown server functions must not become labels of their own.
    let bogus = format!("/api/no_such_fn_{}", rand::random::<u32>());
    assert_eq!(
        app.send(form(&bogus, &[])).await.status,
        StatusCode::BAD_REQUEST
    );
    app.send(with_cookie(form("/api/admin/users", &[]), &admin))
        .await;
    app::telemetry::global().tick();
    let res = app
        .send(with_cookie(get("/api/admin/performance"), &admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let p = res.json();
    for key in [
        "now_ms",
        "started_at_ms",
        "history_from_ms",
        "window_secs",
        "slot_secs",
        "instrumentation",
        "totals",
        "routes",
        "series",
        "caches",
        "queue",
        "pool",
        "process",
        "disk",
        "active_users",
        "alerts",
        "slow_queries",
    ] {
        assert!(p.get(key).is_some(), "performance lacks {key}: {p}");
    }
    for key in [
        "requests",
        "errors",
        "requests_per_sec",
        "error_rate",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    ] {
        assert!(p["totals"][key].is_number(), "totals.{key}: {p}");
    }
    let health = p["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == "GET /healthz")
        .unwrap_or_else(|| panic!("GET /healthz measured: {}", p["routes"]));
    assert!(health["requests"].as_u64().unwrap_or(0) >= 5, "{health}");
    assert!(
        health["p95_ms"].as_f64().is_some_and(|v| v > 0.0),
        "{health}"
    );
    let routes: Vec<&str> = p["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["route"].as_str())
        .collect();
    assert!(
        !routes.iter().any(|r| r.contains("no_such_fn")),
        "{routes:?}"
    );
    assert!(routes.contains(&"POST /api/{*fn_name}"), "{routes:?}");
    assert!(routes.contains(&"POST /api/admin/users"), "{routes:?}");
    assert!(
        p["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .any(|r| r["route"] == "GET (not found)"),
        "unmatched paths share one label: {}",
        p["routes"]
    );
    for key in [
        "t",
        "requests_per_sec",
        "error_rate",
        "p95_ms",
        "queue_depth",
        "cache_hit_rate",
        "rss_mb",
        "route_p95_ms",
    ] {
        assert!(p["series"][key].is_array(), "series.{key}");
    }
    let names: Vec<&str> = p["caches"]
        .as_array()
        .expect("caches")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in [
        "track_lists",
        "track_pages",
        "waveform_peaks",
        "storage_usage",
        "viewers",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for key in [
        "backend",
        "max",
        "size",
        "idle",
        "in_use",
        "use_ratio",
        "acquire_p95_ms",
    ] {
        assert!(p["pool"].get(key).is_some(), "pool.{key}");
    }
    for key in [
        "rss_bytes",
        "cpu_percent",
        "open_fds",
        "threads",
        "uptime_secs",
    ] {
        assert!(
            p["process"][key].is_number(),
            "process.{key}: {}",
            p["process"]
        );
    }
    assert!(
        p["process"]["rss_bytes"].as_u64().unwrap_or(0) > 1_000_000,
        "{}",
        p["process"]
    );
    assert!(
        p["active_users"].as_u64().unwrap_or(0) >= 1,
        "the admin is active"
    );

    // Public queue status: totals only; admins get the detail.
    job_in_state(&app, "storage", "queued").await;
    job_in_state(&app, "cleanup", "dead").await;
    let res = app.send(get("/api/queue-status")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let s = res.json();
    for key in [
        "queueLength",
        "processing",
        "requestsThisMinute",
        "rateLimitPerMinute",
        "kinds",
    ] {
        assert!(s.get(key).is_some(), "queue-status lacks {key}: {s}");
    }
    assert_eq!(s["queueLength"], 1, "{s}");
    assert_eq!(s["kinds"]["storage"]["queueLength"], 1, "{s}");
    assert!(s.get("detail").is_none(), "no detail for visitors: {s}");
    let res = app
        .send(with_cookie(get("/api/queue-status"), &admin))
        .await;
    let d = &res.json()["detail"];
    assert_eq!(d["dead"], 1, "{d}");
    assert_eq!(d["failed"][0]["last_error"], "the disk was gone", "{d}");
}

/// Queue, retry, cancel, discard and pause through the REST API.
async fn job_controls_do_what_they_say(b: Backend) {
    let app = TestApp::new(b).await;
    let admin = app.admin("root@example.com").await;
    let root = user_id(&app, "root@example.com").await;
    let send = |req| app.send(with_cookie(req, &admin));

    // Bad requests name the problem.
    for (body, needle) in [
        (json!({ "kind": "nope" }), "unknown job kind"),
        (json!({ "kind": "waveform" }), "needs a target"),
        (json!({ "kind": "waveform", "target": 999_999 }), "no asset"),
        (json!({ "kind": "cleanup", "target": 1 }), "takes no target"),
        (json!({ "kind": "storage", "target": 999_999 }), "no user"),
        (
            json!({ "kind": "storage", "max_attempts": 0 }),
            "max_attempts",
        ),
    ] {
        let res = send(json_req("POST", "/api/admin/jobs", body.clone())).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.text);
        assert!(res.text.contains(needle), "{body}: {}", res.text);
    }
    let res = send(json_req(
        "POST",
        "/api/admin/jobs",
        json!({ "kind": "storage", "target": root, "max_attempts": 1 }),
    ))
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let job = res.json()["id"].as_i64().expect("job id");
    assert_eq!(res.json()["max_attempts"], 1);
    assert_eq!(res.json()["subject"], format!("user:{root}"));

    // A paused kind is not claimed, in any process; resumed, it is.
    let res = send(post("/api/admin/queues/storage/pause")).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let claimed = q::claim(
        &app.state.db,
        "t",
        "storage",
        10,
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("claim");
    assert!(claimed.is_empty(), "paused kind claimed");
    let status = app.send(get("/api/queue-status")).await.json();
    assert_eq!(status["kinds"]["storage"]["paused"], true, "{status}");
    assert_eq!(
        send(post("/api/admin/queues/nope/pause")).await.status,
        StatusCode::BAD_REQUEST
    );
    send(post("/api/admin/queues/storage/resume")).await;
    let claimed = q::claim(
        &app.state.db,
        "t",
        "storage",
        10,
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("claim");
    assert_eq!(claimed.iter().map(|l| l.id).collect::<Vec<_>>(), vec![job]);

    // It runs: the worker's storage job recounts that one user.
    let lease = &claimed[0];
    q::fail(
        &app.state.db,
        lease,
        "simulated outage",
        false,
        std::time::Duration::from_millis(1),
    )
    .await
    .expect("fail");
    assert_eq!(job_state(&app, job).await.0, "dead", "one attempt allowed");

    // Retry: queued again with all its attempts; not twice.
    let res = send(post(&format!("/api/admin/jobs/{job}/retry"))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(job_state(&app, job).await, ("queued".into(), 0));
    let res = send(post(&format!("/api/admin/jobs/{job}/retry"))).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    // A queued job cannot be discarded before it is cancelled.
    assert_eq!(
        send(delete(&format!("/api/admin/jobs/{job}"))).await.status,
        StatusCode::CONFLICT
    );
    let res = send(post(&format!("/api/admin/jobs/{job}/cancel"))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json()["state"], "cancelled");
    assert_eq!(
        send(post(&format!("/api/admin/jobs/{job}/cancel")))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        send(delete(&format!("/api/admin/jobs/{job}"))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(get(&format!("/api/admin/jobs/{job}"))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(post("/api/admin/jobs/424242/retry")).await.status,
        StatusCode::NOT_FOUND
    );

    // Recount storage now: a wrong total is corrected and the old one reported.
    sqlx::query("UPDATE users SET storage_used_bytes = 12345 WHERE id = $1")
        .bind(root)
        .execute(app.state.db.pool())
        .await
        .expect("skew");
    let res = send(post(&format!("/api/admin/refresh-storage/{root}"))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json()["previous_bytes"], 12345);
    assert_eq!(res.json()["storage_used_bytes"], 0);
    assert_eq!(
        send(post("/api/admin/refresh-storage/999999")).await.status,
        StatusCode::NOT_FOUND
    );
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
    performance_and_queue_status_answer_their_shape,
    job_controls_do_what_they_say,
    metrics_are_prometheus_text_and_guarded,
);

/// The dashboard's event stream on the real server: a snapshot at once,
/// then one a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_a_snapshot_every_second() {
    crate::helpers::bounded(async {
        let app = TestApp::new(Backend::Sqlite).await;
        let admin = app.admin("root@example.com").await;
        let server = app.spawn().await;
        let client = reqwest::Client::new();
        let mut res = client
            .get(server.url("/api/admin/events"))
            .header(header::COOKIE, &admin)
            .send()
            .await
            .expect("events");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let started = std::time::Instant::now();
        let mut text = String::new();
        let mut events = 0;
        while events < 3 {
            let chunk = res.chunk().await.expect("chunk").expect("stream open");
            text.push_str(&String::from_utf8_lossy(&chunk));
            events = text.matches("event: performance").count();
        }
        let took = started.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(1_500),
            "batched, not a storm: {took:?}"
        );
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data line");
        let p: app::admin::Performance = serde_json::from_str(data).expect("a whole snapshot");
        assert!(p.now_ms > 0);
        // A second later, the running server's collectors have filled in
        // the pool and the disk (the latest complete event).
        let p: app::admin::Performance = text
            .lines()
            .rev()
            .filter_map(|l| l.strip_prefix("data: "))
            .find_map(|d| serde_json::from_str(d).ok())
            .expect("a later snapshot");
        assert!(p.pool.max > 0 && p.pool.size > 0, "{:?}", p.pool);
        assert!(p.disk.free_bytes.is_some_and(|b| b > 0), "{:?}", p.disk);
        drop(res);
        server.stop().await;
    })
    .await;
}
