//! Object storage (S3, here SeaweedFS on loopback, which `scripts/test`
//! starts): stored files, derived files, playback with ranges, the sweeper
//! and deletes on a bucket, nothing in the data directory but the spool; and
//! `wavekeep storage migrate` copying a local store into a bucket.

use std::time::Duration;

use http::StatusCode;
use sha2::Digest;

use crate::audio;
use crate::helpers::{get, s3_settings, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track, process, walk};

const BIN: &str = env!("CARGO_BIN_EXE_wavekeep");

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A test app on the suite's bucket; `None` (skipped) when there is none.
async fn on_s3(b: Backend) -> Option<TestApp> {
    let Some(s3) = s3_settings() else {
        eprintln!("skipped: no S3 server (WAVEKEEP_TEST_S3_ENDPOINT)");
        return None;
    };
    Some(TestApp::with(b, |s| s.object_store = Some(s3)).await)
}

async fn stores_serves_and_removes_files_on_object_storage(b: Backend) {
    let Some(app) = on_s3(b).await else { return };
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    // Larger than one part: stored by a multipart upload.
    let big = std::fs::read(audio::wav(60.0)).expect("wav");
    assert!(big.len() > 9 * 1024 * 1024, "{} bytes", big.len());
    let small = std::fs::read(audio::mp3(2.0)).expect("mp3");
    let mut ids = Vec::new();
    for (name, bytes) in [("long.wav", &big), ("short.mp3", &small)] {
        let res = app
            .send(post_track(&key, &[("title", name)], Some((name, bytes))))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        ids.push(res.json()["id"].as_i64().expect("id"));
    }
    process(&app).await;

    // Everything is in the bucket; the data directory holds only the spool.
    assert_eq!(app.stored_files("objects").await, 2);
    let derived = app.stored_files("derived").await;
    assert!(derived >= 3, "peaks and the WAV's preview: {derived}");
    let data = &app.state.settings.data_dir;
    assert_eq!(walk(&data.join("objects")) + walk(&data.join("derived")), 0);
    assert_eq!(
        walk(&data.join("tmp")),
        0,
        "downloads for the decoders are gone"
    );

    // Probed from the bucket: exact duration, waveform, preview.
    let t = app
        .send(with_cookie(
            get(&format!("/api/v1/tracks/{}", ids[0])),
            &ana,
        ))
        .await
        .json();
    assert_eq!(t["status"], "ready", "{t}");
    assert_eq!(t["duration_ms"], 60_000, "{t}");
    assert_eq!(t["versions"][0]["asset"]["preview_ready"], true, "{t}");
    let peaks = app
        .send(with_cookie(
            get(&format!("/api/v1/tracks/{}/peaks", ids[0])),
            &ana,
        ))
        .await;
    assert_eq!(peaks.status, StatusCode::OK, "{}", peaks.text);

    // Downloads and ranges come from the bucket, byte for byte.
    let url = t["versions"][0]["download_url"]
        .as_str()
        .expect("download url")
        .to_string();
    let full = app.send(get(&url)).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(sha(&full.bytes), sha(&big));
    let start = 9 * 1024 * 1024 - 10;
    let r = app
        .send(
            http::Request::get(&url)
                .header("range", format!("bytes={start}-{}", start + 99))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes, big[start..start + 100], "a range across two parts");

    // A stored file no row refers to (a crash before the commit) is swept.
    let orphan = std::fs::read(audio::flac(1.0)).expect("flac");
    let spooled = app.state.storage.spool().tmp_path("orphan");
    std::fs::write(&spooled, &orphan).expect("spool");
    app.state
        .storage
        .put_object(&spooled, &sha(&orphan), false)
        .await
        .expect("put");
    std::fs::remove_file(&spooled).expect("rm");
    assert_eq!(app.stored_files("objects").await, 3);
    server::storage::sweep::sweep_older_than(
        &app.state,
        &app.state.storage,
        Duration::ZERO,
        Duration::ZERO,
    )
    .await
    .expect("sweep");
    assert_eq!(app.stored_files("objects").await, 2, "the orphan went");

    // Deleting the tracks empties the bucket's prefix.
    for id in &ids {
        let res = app
            .send(with_cookie(
                crate::helpers::form("/api/tracks/delete", &[("id", &id.to_string())]),
                &ana,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    }
    process(&app).await;
    assert_eq!(app.stored_files("objects").await, 0);
    assert_eq!(app.stored_files("derived").await, 0);
}

/// More large files at once than the in-memory budget holds parts for:
/// each waits for room and all of them arrive (none waits forever on a
/// part that only its own waiting would move on).
async fn many_large_files_at_once_all_arrive(b: Backend) {
    let Some(app) = on_s3(b).await else { return };
    let big: Vec<u8> = (0..17 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let src = app.state.storage.spool().tmp_path("big");
    std::fs::write(&src, &big).expect("write");
    let puts = (0..14u32).map(|i| {
        let (storage, src) = (app.state.storage.clone(), src.clone());
        async move {
            let name = format!("{i:02}").repeat(32);
            storage.put_object(&src, &name, true).await.expect("put")
        }
    });
    let keys = tokio::time::timeout(Duration::from_secs(90), futures::future::join_all(puts))
        .await
        .expect("every upload finished");
    assert_eq!(keys.len(), 14);
    assert_eq!(app.stored_files("objects").await, 14);
    let back = app.stored(&keys[13]).await;
    assert!(back == big, "the last one is whole");
}

/// ana uploads a WAV of `secs` as `name` through the machine API and its
/// jobs run; (her session cookie, the track id, the WAV's bytes).
async fn uploaded_wav(
    app: &TestApp,
    name: &str,
    secs: f64,
    public: bool,
) -> (String, i64, Vec<u8>) {
    let ana = app.register("ana@example.com").await;
    let key = api_key(app, &ana).await;
    let wav = std::fs::read(audio::wav(secs)).expect("wav");
    let visibility = if public { "public" } else { "private" };
    let res = app
        .send(post_track(
            &key,
            &[("title", name), ("visibility", visibility)],
            Some((&format!("{name}.wav"), &wav)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");
    process(app).await;
    (ana, id, wav)
}

async fn media_links_can_redirect_to_presigned_urls(b: Backend) {
    let Some(mut s3) = s3_settings() else {
        eprintln!("skipped: no S3 server (WAVEKEEP_TEST_S3_ENDPOINT)");
        return;
    };
    s3.redirect = true;
    let app = TestApp::with(b, |s| s.object_store = Some(s3)).await;
    let (ana, id, wav) = uploaded_wav(&app, "far", 2.0, true).await;
    let t = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json();
    let url = t["versions"][0]["download_url"]
        .as_str()
        .expect("download url")
        .to_string();

    // The link is checked here first: forged 403, expired 410, no redirect.
    let forged = url.replace("&u=", "&u=9");
    let r = app.send(get(&forged)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let path = url.split('?').next().expect("path");
    let old = app
        .state
        .secrets
        .sign_until(path, app::db::now_ms() / 1000 - 5, None);
    assert_eq!(app.send(get(&old)).await.status, StatusCode::GONE);

    // A good link is a short-lived presigned URL on the store.
    let r = app.send(get(&url)).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.text);
    let to = r.header("location").to_string();
    let endpoint = std::env::var("WAVEKEEP_TEST_S3_ENDPOINT").expect("endpoint");
    assert!(to.starts_with(&endpoint), "{to}");
    assert!(to.contains("X-Amz-Signature="), "{to}");
    assert_eq!(r.header("cache-control"), "private, no-store");
    let client = reqwest::Client::new();
    let full = client.get(&to).send().await.expect("fetch");
    assert_eq!(full.status(), 200);
    let hdr = |r: &reqwest::Response, n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(hdr(&full, "content-type"), "audio/wav");
    assert!(
        hdr(&full, "content-disposition").starts_with("attachment; filename=\"far-"),
        "{}",
        hdr(&full, "content-disposition")
    );
    assert_eq!(sha(&full.bytes().await.expect("body")), sha(&wav));
    let part = client
        .get(&to)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.expect("body")[..], wav[100..200]);
    // A client that has the file is answered 304 here, not redirected.
    let etag = app
        .send(
            http::Request::head(&url)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .header("etag")
        .to_string();
    let again = app
        .send(
            http::Request::get(&url)
                .header("if-none-match", &etag)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // Tampering with the presigned URL is the store's 403.
    let bent = to.replace("X-Amz-Expires=", "X-Amz-Expires=9");
    assert_eq!(client.get(&bent).send().await.expect("fetch").status(), 403);
    // HEAD is answered here (a presigned GET does not sign a HEAD).
    let head = app
        .send(
            http::Request::head(&url)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), wav.len().to_string());
    // The redirected download is in the history.
    assert_eq!(app.count("downloads").await, 1);
}

/// Runs `wavekeep storage migrate` on `data_dir` to `to`; (success, stderr).
fn migrate(data_dir: &std::path::Path, to: &str) -> (bool, String) {
    let s3 = s3_settings().expect("s3");
    let out = std::process::Command::new(BIN)
        .args(["storage", "migrate", "--to", to, "--jobs", "3"])
        .env("WAVEKEEP_DATA_DIR", data_dir)
        .env(
            "WAVEKEEP_S3_ENDPOINT",
            s3.endpoint.as_deref().unwrap_or_default(),
        )
        .env("WAVEKEEP_S3_REGION", "us-east-1")
        .env(
            "WAVEKEEP_S3_ACCESS_KEY_ID",
            s3.access_key_id.as_deref().unwrap_or_default(),
        )
        .env(
            "WAVEKEEP_S3_SECRET_ACCESS_KEY",
            std::env::var("WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY").unwrap_or_default(),
        )
        .env("WAVEKEEP_S3_ALLOW_HTTP", "true")
        .env("WAVEKEEP_LOG", "warn")
        .env_remove("WAVEKEEP_STORAGE")
        .output()
        .expect("run wavekeep storage migrate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn migrate_copies_a_local_store_to_a_bucket_resumably(b: Backend) {
    let Some(mut s3) = s3_settings() else {
        eprintln!("skipped: no S3 server (WAVEKEEP_TEST_S3_ENDPOINT)");
        return;
    };
    let app = TestApp::with(b, |s| s.object_store = None).await;
    let (ana, id, wav) = uploaded_wav(&app, "moved", 3.0, false).await;
    let data = app.state.settings.data_dir.clone();
    let files = walk(&data.join("objects")) + walk(&data.join("derived"));
    assert!(files >= 3, "the WAV, its peaks and its preview: {files}");

    let to = format!("s3://{}/{}", s3.bucket, s3.prefix);
    let (ok, err) = migrate(&data, &to);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("Copied {files} files")),
        "every file copied: {err}"
    );
    // Again: nothing left to copy.
    let (ok, err) = migrate(&data, &to);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!(
            "Copied 0 files (0.0 MB), {files} already there, 0 failed"
        )),
        "{err}"
    );

    // The same database on the bucket serves the same bytes.
    let mut settings = (*app.state.settings).clone();
    settings.object_store = Some(s3.clone());
    let moved = server::build_state(
        settings,
        &app.database_url,
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("state on the bucket");
    assert_eq!(moved.storage.count_files("objects").await.expect("list"), 1);
    assert_eq!(
        moved.storage.count_files("derived").await.expect("list"),
        files - 1
    );
    let router = server::router(moved);
    let t = crate::helpers::send_via(
        router.clone(),
        with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana),
        "127.0.0.1",
    )
    .await
    .json();
    let url = t["versions"][0]["download_url"].as_str().expect("url");
    let full = crate::helpers::send_via(router, get(url), "127.0.0.1").await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(sha(&full.bytes), sha(&wav));

    // A damaged local file is refused, named, and the run fails.
    let object = walkdir::WalkDir::new(data.join("objects"))
        .into_iter()
        .flatten()
        .find(|e| e.file_type().is_file())
        .expect("an object");
    let mut bytes = std::fs::read(object.path()).expect("read");
    bytes[100] ^= 0xFF;
    std::fs::write(object.path(), &bytes).expect("damage");
    s3.prefix = format!("{}-again", s3.prefix);
    let (ok, err) = migrate(&data, &format!("s3://{}/{}", s3.bucket, s3.prefix));
    assert!(!ok, "a damaged file fails the run: {err}");
    assert!(err.contains("the local file is damaged"), "{err}");
    assert!(
        err.contains(&format!("Copied {} files", files - 1)),
        "{err}"
    );
}

crate::both_backends!(
    stores_serves_and_removes_files_on_object_storage,
    many_large_files_at_once_all_arrive,
    media_links_can_redirect_to_presigned_urls,
    migrate_copies_a_local_store_to_a_bucket_resumably,
);
