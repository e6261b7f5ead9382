//! The machine API's upload (`POST /api/v1/tracks`): tracks, versions
//! and stems, dedupe, the quota and the per-key rate limit.

use axum::body::Body;
use http::StatusCode;

use super::*;
use crate::audio;
use crate::helpers::{get, with_bearer, with_cookie, Backend, TestApp};

async fn the_machine_api_accepts_tracks_versions_and_stems_and_dedupes(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let bytes = std::fs::read(audio::wav(1.5)).expect("wav");

    let res = app
        .send(post_track(
            &key,
            &[("title", "Demo")],
            Some(("demo.wav", &bytes)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let j = res.json();
    let id = j["id"].as_i64().expect("id");
    assert_eq!(j["status"], "processing");
    // Same content again, as a new version: stored once.
    let res = app
        .send(post_track(
            &key,
            &[("target", "version"), ("track_id", &id.to_string())],
            Some(("demo2.wav", &bytes)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let version_id = res.json()["version_id"].as_i64().expect("version");
    let stem = std::fs::read(audio::mp3(1.5)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[
                ("target", "stem"),
                ("version_id", &version_id.to_string()),
                ("role", "Drums"),
            ],
            Some(("drums.mp3", &stem)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_eq!(
        app.count("assets").await,
        2,
        "the same content is one asset"
    );
    assert_eq!(app.stored_files("objects").await, 2, "and one file");
    let used: i64 = sqlx::query_scalar("SELECT storage_used_bytes FROM users")
        .fetch_one(app.state.db.pool())
        .await
        .expect("usage");
    assert_eq!(used, (bytes.len() + stem.len()) as i64);

    process(&app).await;
    let res = app
        .send(with_bearer(get(&format!("/api/v1/tracks/{id}")), &key))
        .await;
    let t = res.json();
    assert_eq!(t["versions"].as_array().expect("v").len(), 2);
    assert_eq!(t["primary_version_id"].as_i64(), Some(version_id));
    assert_eq!(t["stems"][0]["role"], "drums");
    assert_eq!(t["stems"][0]["asset"]["codec"], "mp3");
    assert_eq!(t["status"], "ready");
    let wav = &t["versions"][1]["asset"];
    assert_eq!(wav["channels"], 2);
    assert_eq!(wav["bit_depth"], 16);
    assert_eq!(wav["container"], "wav");

    // Errors: no file, empty file, a track of someone else, not signed in.
    let res = app.send(post_track(&key, &[("title", "x")], None)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("audio"));
    let res = app.send(post_track(&key, &[], Some(("e.mp3", b"")))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let bob = app.register("bob@example.com").await;
    let bob_key = api_key(&app, &bob).await;
    let res = app
        .send(post_track(
            &bob_key,
            &[("target", "version"), ("track_id", &id.to_string())],
            Some(("x.wav", &bytes)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .send(with_bearer(get(&format!("/api/v1/tracks/{id}")), &bob_key))
        .await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "private tracks are invisible to others"
    );
    // Anonymous: a private track is as missing as for anyone else.
    let res = app.send(get(&format!("/api/v1/tracks/{id}"))).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("tracks").await, 1);

    // The track page: the owner sees it (server-rendered), others get 404.
    let page = app
        .send(with_cookie(get(&format!("/tracks/{id}")), &cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Demo") && page.text.contains("Show stems (1)"),
        "{}",
        page.text
    );
    // Stems load only when their panel opens: the page does not carry them.
    assert!(!page.text.contains("drums"), "{}", page.text);
    let page = app
        .send(with_cookie(get(&format!("/tracks/{id}")), &bob))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.send(get(&format!("/tracks/{id}"))).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn quota_and_rate_limits_answer_clearly(b: Backend) {
    let app = TestApp::with(b, |s| {
        s.default_quota_bytes = 100_000;
        s.api_rate_per_minute = 1;
        s.api_rate_burst = 3;
    })
    .await;
    let cookie = app.register("ana@example.com").await;
    let req = create_req(200_000, &[]).body(Body::empty()).expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("quota"),
        "{}",
        res.text
    );
    assert_eq!(app.count("uploads").await, 0);

    let key = api_key(&app, &cookie).await;
    // On PostgreSQL the requests alternate between two processes: the rate
    // holds for the deployment, not per process.
    let other_process = match b {
        Backend::Postgres => Some(app.second_process().await),
        Backend::Sqlite => None,
    };
    let mut statuses = Vec::new();
    for i in 0..4 {
        let req = with_bearer(get("/api/v1/me"), &key);
        let res = match (&other_process, i % 2) {
            (Some(router), 1) => crate::helpers::send_via(router.clone(), req, "127.0.0.1").await,
            _ => app.send(req).await,
        };
        statuses.push(res.status.as_u16());
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            let wait = hdr(&res, "retry-after")
                .parse::<u64>()
                .expect("retry-after");
            assert!((1..=60).contains(&wait), "{wait}");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Another key is not affected.
    let other = api_key(&app, &cookie).await;
    assert_eq!(
        app.send(with_bearer(get("/api/v1/me"), &other))
            .await
            .status,
        StatusCode::OK
    );
}

/// A new track whose slug meets an existing one (their random parts
/// clashed: one call in ~7,500 of one title did, answered 500) gets a
/// longer slug instead of failing.
async fn a_slug_clash_gets_a_longer_slug(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let wav = std::fs::read(audio::wav(1.0)).expect("wav");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Dispatch")],
            Some(("a.wav", &wav)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let (owner, slug, sha): (i64, String, String) = sqlx::query_as(
        "SELECT t.owner_id, t.slug, a.sha256 FROM tracks t \
         JOIN track_versions v ON v.id = t.primary_version_id JOIN assets a ON a.id = v.asset_id",
    )
    .fetch_one(app.state.db.pool())
    .await
    .expect("track");
    let asset: i64 = sqlx::query_scalar("SELECT id FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    let mut tx = app::uploads::finalize::Finalizing::begin(&app.state.db, owner, &sha)
        .await
        .expect("begin");
    let status = app::uploads::finalize::AssetStatus {
        duration_ms: Some(1000),
        status: "ready",
    };
    let (id, _) = tx
        .insert_track(
            &slug,
            "Dispatch",
            false,
            "",
            app::tracks::Visibility::Private,
            asset,
            &status,
        )
        .await
        .expect("a clash is no error");
    tx.commit().await.expect("commit");
    let second: String = sqlx::query_scalar("SELECT slug FROM tracks WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("slug");
    assert_ne!(second, slug);
    assert!(second.starts_with(&format!("{slug}-")), "{second}");
    assert_eq!(app.count("tracks").await, 2);
}

crate::both_backends!(
    the_machine_api_accepts_tracks_versions_and_stems_and_dedupes,
    quota_and_rate_limits_answer_clearly,
    a_slug_clash_gets_a_longer_slug,
);
