//! The dashboard's data: `/api/admin/performance` and the public queue
//! status in their shape, and the live event stream.

use http::{header, StatusCode};

use crate::helpers::{form, get, with_cookie, Backend, TestApp};

use super::*;

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

/// Two processes on one database: /admin lists both (id, version, uptime,
/// running jobs) and says which one answered; a stopped one leaves the list.
async fn the_dashboard_lists_every_instance(b: Backend) {
    let app = TestApp::new(b).await;
    let admin = app.admin("root@example.com").await;
    let a = crate::helpers::spawn_state(app.state.clone()).await;
    let b_server = crate::helpers::spawn_state(app.second_state().await).await;
    let client = reqwest::Client::new();
    let perf = |base: String| {
        let (client, admin) = (client.clone(), admin.clone());
        async move {
            let res = client
                .get(format!("{base}/api/admin/performance"))
                .header("cookie", admin)
                .send()
                .await
                .expect("performance");
            assert_eq!(res.status(), 200);
            res.json::<app::admin::Performance>().await.expect("json")
        }
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = perf(a.base.clone()).await.instances;
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let from_a = perf(a.base.clone()).await;
    let from_b = perf(b_server.base.clone()).await;
    assert_ne!(from_a.answered_by, from_b.answered_by);
    for p in [&from_a, &from_b] {
        assert!(p.instances.iter().any(|i| i.id == p.answered_by), "{p:?}");
    }
    let row = &from_a.instances[0];
    assert_eq!(row.version, env!("CARGO_PKG_VERSION"));
    assert!(row.addr.starts_with("127.0.0.1:"), "{row:?}");
    assert!(row.started_at_ms > 0 && row.seen_at_ms >= row.started_at_ms);
    b_server.stop().await;
    let left = perf(a.base.clone()).await;
    assert_eq!(left.instances.len(), 1, "a clean stop removes its row");
    assert_eq!(left.instances[0].id, left.answered_by);
    a.stop().await;
}

crate::both_backends!(
    performance_and_queue_status_answer_their_shape,
    the_dashboard_lists_every_instance,
);
