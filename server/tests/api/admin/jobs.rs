//! Admin job controls: enqueue, retry, discard, cancel, pause and resume.

use http::StatusCode;
use serde_json::json;

use crate::helpers::{get, user_id, with_cookie, Backend, TestApp};
use app::jobs::db::{self as q};

use super::*;

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

crate::both_backends!(job_controls_do_what_they_say,);
