//! What concurrency cannot break: the quota, concatenation's parts, and
//! stored files under new rows.

use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use sha2::Digest;

use crate::helpers::{form, send_via, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track};

use super::*;

async fn the_quota_cannot_be_raced(b: Backend) {
    const L: usize = 40_000;
    let app = TestApp::with(b, |s| s.default_quota_bytes = (5 * L + L / 2) as u64).await;
    let cookie = app.register("racer@example.com").await;
    // 20 tus uploads created at once: exactly five fit.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let router = app.router.clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::post("/api/uploads")
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", L.to_string())
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("r");
            let res = send_via(router, req, "127.0.0.1").await;
            (res.status, Some(res.header("location").to_string()))
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (status, loc) = t.await.expect("join");
        match status {
            StatusCode::CREATED => created.push(loc.expect("location")),
            StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created.len(), 5);
    // They finish, and then nothing more fits.
    for (i, url) in created.iter().enumerate() {
        let bytes = vec![i as u8 + 1; L];
        let req = Request::patch(url)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(Body::from(bytes))
            .expect("r");
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    }
    let req = Request::post("/api/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", L.to_string())
        .body(Body::empty())
        .expect("r");
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // The machine API: 20 bodies at once for another user, distinct files.
    let cookie = app.register("racer2@example.com").await;
    let key = api_key(&app, &cookie).await;
    let body_len = {
        let r = post_track(&key, &[("title", "x")], Some(("f.bin", &vec![0u8; L])));
        http_body::Body::size_hint(r.body()).exact().expect("len") as usize
    };
    sqlx::query("UPDATE users SET storage_quota_bytes = $1 WHERE email = 'racer2@example.com'")
        .bind((5 * body_len + body_len / 2) as i64)
        .execute(app.state.db.pool())
        .await
        .expect("quota");
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let router = app.router.clone();
        // As every real client does, with its length.
        let mut req = post_track(&key, &[("title", "x")], Some(("f.bin", &vec![i + 1; L])));
        req.headers_mut().insert(
            header::CONTENT_LENGTH,
            body_len.to_string().parse().expect("hv"),
        );
        tasks.push(tokio::spawn(async move {
            send_via(router, req, "127.0.0.1").await.status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            StatusCode::ACCEPTED => ok += 1,
            StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5);
    let used: i64 = sqlx::query_scalar(
        "SELECT storage_used_bytes FROM users WHERE email = 'racer2@example.com'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .expect("used");
    assert_eq!(used, (5 * L) as i64);
    assert_eq!(app.count("quota_reservations").await, 0);
}

async fn concatenation_takes_each_own_part_once(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let eve = app.register("eve@example.com").await;
    let partial = |cookie: String, bytes: Vec<u8>| {
        let app = &app;
        async move {
            let req = Request::post("/api/uploads")
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", bytes.len().to_string())
                .header("Upload-Concat", "partial")
                .body(Body::empty())
                .expect("r");
            let res = app.send(with_cookie(req, &cookie)).await;
            assert_eq!(res.status, StatusCode::CREATED);
            let url = res.header("location").to_string();
            let req = Request::patch(&url)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", "0")
                .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                .body(Body::from(bytes))
                .expect("r");
            assert_eq!(
                app.send(with_cookie(req, &cookie)).await.status,
                StatusCode::NO_CONTENT
            );
            url
        }
    };
    let mine = partial(ana.clone(), vec![1u8; 5000]).await;
    let theirs = partial(eve.clone(), vec![2u8; 5000]).await;
    let concat = |list: String| {
        Request::post("/api/uploads")
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Concat", format!("final;{list}"))
            .body(Body::empty())
            .expect("r")
    };
    // The same part a hundred times: refused, nothing written.
    let res = app
        .send(with_cookie(
            concat(vec![mine.as_str(); 100].join(" ")),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    assert!(res.text.contains("more than once"), "{}", res.text);
    // Someone else's part: as if it did not exist.
    let res = app
        .send(with_cookie(concat(format!("{mine} {theirs}")), &ana))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
    assert_eq!(app.count("tracks").await, 0);
    // Two concatenations of the same part at once: one track.
    let (a, b2) = tokio::join!(
        app.send(with_cookie(concat(mine.clone()), &ana)),
        app.send(with_cookie(concat(mine.clone()), &ana))
    );
    let statuses = [a.status, b2.status];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.count("tracks").await, 1);
    let used: i64 =
        sqlx::query_scalar("SELECT storage_used_bytes FROM users WHERE email = 'ana@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("used");
    assert_eq!(used, 5000);
}

async fn a_file_is_never_removed_under_a_new_row(b: Backend) {
    let app = TestApp::with(b, |s| s.api_rate_burst = 10_000).await;
    let cookie = app.register("dora@example.com").await;
    let key = api_key(&app, &cookie).await;
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let upload = |app: &TestApp| {
        let req = post_track(&key, &[("title", "again")], Some(("a.bin", &bytes)));
        let router = app.router.clone();
        async move {
            let res = send_via(router, req, "127.0.0.1").await;
            assert_eq!(res.status, StatusCode::ACCEPTED);
            res.json()["id"].as_i64().expect("id")
        }
    };
    let mut track = upload(&app).await;
    for i in 0..200u64 {
        let res = app
            .send(with_cookie(
                form("/api/tracks/delete", &[("id", &track.to_string())]),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let state = app.state.clone();
        let sha2 = sha.clone();
        let purge = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(i * 37 % 1500)).await;
            server::storage::sweep::remove_if_unused(&state, &state.storage, &sha2)
                .await
                .expect("purge")
        });
        let again = upload(&app);
        track = again.await;
        purge.await.expect("join");
        every_asset_has_its_file(&app).await;
    }
}

crate::both_backends!(
    the_quota_cannot_be_raced,
    concatenation_takes_each_own_part_once,
    a_file_is_never_removed_under_a_new_row,
);
