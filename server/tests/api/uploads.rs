//! tus uploads, the machine API, finalization, and the media jobs on real
//! audio: conformance (offsets, checksums, locks, expiry, concatenation),
//! resume after an interrupted PATCH, dedupe, quota, and malformed files.

use std::time::Duration;

use axum::body::{Body, Bytes};
use base64::Engine;
use http::{header, Request, StatusCode};
use sha1::Digest;

use crate::helpers::Backend;
use server::worker::{Worker, WorkerSettings};

use crate::audio;
use crate::helpers::{get, with_bearer, with_cookie, TestApp, TestResponse};

const OCTET: &str = "application/offset+octet-stream";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn create_req(length: usize, meta: &[(&str, &str)]) -> http::request::Builder {
    let meta = meta
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v)))
        .collect::<Vec<_>>()
        .join(",");
    Request::post("/api/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", meta)
}

fn patch_req(url: &str, offset: usize, body: impl Into<Body>) -> http::request::Builder {
    let _ = body;
    Request::patch(url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header(header::CONTENT_TYPE, OCTET)
}

fn patch(url: &str, offset: usize, bytes: &[u8]) -> Request<Body> {
    patch_req(url, offset, Body::empty())
        .body(Body::from(bytes.to_vec()))
        .expect("request")
}

fn head(url: &str) -> Request<Body> {
    Request::head(url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("request")
}

fn hdr(res: &TestResponse, name: &str) -> String {
    res.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn create(app: &TestApp, cookie: &str, length: usize, name: &str) -> String {
    let req = create_req(length, &[("filename", name)])
        .body(Body::empty())
        .expect("request");
    let res = app.send(with_cookie(req, cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let loc = hdr(&res, "location");
    assert!(loc.starts_with("/api/uploads/"), "{loc}");
    loc
}

/// Runs every due job (metadata, then waveform) to the end.
pub async fn process(app: &TestApp) {
    let worker = Worker::new(
        app.state.clone(),
        WorkerSettings {
            backoff_base: Duration::from_millis(1),
            ..WorkerSettings::default()
        },
        app.state.queue.wake(),
        server::worker::all_jobs(&app.state.settings),
    );
    worker.drain().await;
}

async fn track(app: &TestApp, cookie: &str, id: i64) -> serde_json::Value {
    let res = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), cookie))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.json()
}

async fn uploads_in_chunks_with_checksums_and_becomes_a_processed_track(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::mp3(3.0)).expect("mp3");
    let req = create_req(
        bytes.len(),
        &[("filename", "first_take.mp3"), ("title", "First take")],
    )
    .body(Body::empty())
    .expect("request");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(hdr(&res, "tus-resumable"), "1.0.0");
    assert!(!hdr(&res, "upload-expires").is_empty());
    let url = hdr(&res, "location");

    let half = bytes.len() / 2;
    for (offset, chunk) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        let sum = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(chunk));
        let mut req = patch(&url, offset, chunk);
        req.headers_mut().insert(
            "upload-checksum",
            format!("sha1 {sum}").parse().expect("hdr"),
        );
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert_eq!(
            hdr(&res, "upload-offset"),
            (offset + chunk.len()).to_string()
        );
        if offset + chunk.len() == bytes.len() {
            assert!(
                !hdr(&res, "wavekeep-track-id").is_empty(),
                "the last PATCH names the track"
            );
        }
    }
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(hdr(&res, "upload-offset"), bytes.len().to_string());
    let id: i64 = hdr(&res, "wavekeep-track-id").parse().expect("track id");
    // The final PATCH's lease ended with it: the finished upload can be
    // terminated at once (a lease left behind would answer 423).
    let lease: Option<i64> = sqlx::query_scalar("SELECT lock_until FROM uploads")
        .fetch_one(app.state.db.pool())
        .await
        .expect("upload row");
    assert_eq!(lease, None, "no lease is left on a finished upload");

    // Before processing: listed as processing, no duration yet.
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["title"], "First take");
    assert_eq!(t["status"], "processing");
    assert!(t["duration_ms"].is_null());
    assert_eq!(t["jobs"][0]["kind"], "metadata");
    assert_eq!(t["jobs"][0]["state"], "Queued");

    process(&app).await;
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["status"], "ready", "{t}");
    let ms = t["duration_ms"].as_i64().expect("duration");
    assert!((ms - 3000).abs() <= 100, "duration {ms} ms");
    let asset = &t["versions"][0]["asset"];
    assert_eq!(asset["codec"], "mp3");
    assert_eq!(asset["sample_rate"], 44100);
    assert_eq!(asset["channels"], 1);
    assert_eq!(asset["size_bytes"].as_i64(), Some(bytes.len() as i64));
    let kinds: Vec<_> = t["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["kind"].clone(), j["state"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("metadata".into(), "Succeeded".into()),
            ("waveform".into(), "Succeeded".into())
        ]
    );

    for zoom in ["", "?zoom=fine"] {
        let res = app
            .send(with_cookie(
                get(&format!("/api/v1/tracks/{id}/peaks{zoom}")),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let p = res.json();
        assert_eq!(p["version"], 2);
        assert_eq!(p["channels"], 1);
        assert_eq!(p["bits"], 8);
        let data = p["data"].as_array().expect("data");
        assert_eq!(data.len() as i64, 2 * p["length"].as_i64().expect("length"));
        assert!(
            data.iter().any(|v| v.as_i64().unwrap_or(0) >= 12),
            "the tone (ffmpeg: amplitude 1/8) shows"
        );
        if zoom.is_empty() {
            assert!(
                data.len() / 2 <= 1000 && data.len() / 2 >= 100,
                "{}",
                data.len()
            );
        }
    }
    // The stored object is the uploaded content.
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, sha);
    let used: i64 = sqlx::query_scalar("SELECT storage_used_bytes FROM users")
        .fetch_one(app.state.db.pool())
        .await
        .expect("usage");
    assert_eq!(used, bytes.len() as i64);
}

async fn tus_conformance_errors(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let other = app.register("bob@example.com").await;

    let res = app
        .send(
            Request::options("/api/uploads")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(hdr(&res, "tus-version"), "1.0.0");
    for ext in [
        "creation",
        "termination",
        "checksum",
        "expiration",
        "concatenation",
    ] {
        assert!(
            hdr(&res, "tus-extension").split(',').any(|e| e == ext),
            "{ext}"
        );
    }
    assert!(hdr(&res, "tus-checksum-algorithm").contains("sha1"));
    assert!(hdr(&res, "tus-max-size").parse::<u64>().expect("max") > 0);

    // Anonymous: 401. Missing Tus-Resumable: 412.
    let res = app
        .send(create_req(10, &[]).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app
        .send(with_cookie(
            Request::post("/api/uploads")
                .header("Upload-Length", "10")
                .body(Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::PRECONDITION_FAILED);
    // No length, bad metadata.
    let res = app
        .send(with_cookie(
            Request::post("/api/uploads")
                .header("Tus-Resumable", "1.0.0")
                .body(Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let mut req = create_req(10, &[]).body(Body::empty()).expect("r");
    req.headers_mut()
        .insert("upload-metadata", "filename %%%".parse().expect("h"));
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::BAD_REQUEST
    );

    let data = vec![7u8; 1000];
    let url = create(&app, &cookie, data.len(), "x.wav").await;
    // Someone else's upload does not exist for them.
    assert_eq!(
        app.send(with_cookie(head(&url), &other)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(with_cookie(patch(&url, 0, &data[..10]), &other))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Wrong offset: 409 and nothing written.
    let res = app
        .send(with_cookie(patch(&url, 5, &data[..10]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    // Wrong content type: 415.
    let mut req = patch(&url, 0, &data[..10]);
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("h"),
    );
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // A good PATCH, then a bad checksum: 460 and the offset unchanged.
    let res = app
        .send(with_cookie(patch(&url, 0, &data[..100]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let mut req = patch(&url, 100, &data[100..200]);
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"other bytes"));
    req.headers_mut().insert(
        "upload-checksum",
        format!("sha1 {wrong}").parse().expect("h"),
    );
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status.as_u16(), 460, "{}", res.text);
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(hdr(&res, "upload-offset"), "100");
    // Unknown checksum algorithm: 400.
    let mut req = patch(&url, 100, &data[100..200]);
    req.headers_mut()
        .insert("upload-checksum", "crc99 AAAA".parse().expect("h"));
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    // More than Upload-Length: 413, offset unchanged.
    let res = app
        .send(with_cookie(patch(&url, 100, &vec![1u8; 2000]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(hdr(&res, "upload-offset"), "100");

    // Expired: 410; after the sweep, 404 and the bytes are gone.
    sqlx::query("UPDATE uploads SET expires_at = 1")
        .execute(app.state.db.pool())
        .await
        .expect("expire");
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        app.send(with_cookie(patch(&url, 100, &data[100..]), &cookie))
            .await
            .status,
        StatusCode::GONE
    );
    // A stored file whose row never committed (a crash), and a stale temp file.
    let dir = app.state.settings.data_dir.clone();
    let orphan = dir.join("objects/ab/cd").join("abcd".repeat(16));
    std::fs::create_dir_all(orphan.parent().expect("dir")).expect("mkdir");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for path in [orphan.clone(), dir.join("tmp/left.upload")] {
        std::fs::write(&path, b"x").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(two_hours_ago))
            .expect("age");
    }
    server::storage::sweep::sweep(&app.state, &app.state.storage)
        .await
        .expect("sweep");
    assert!(!orphan.exists(), "the unreferenced object is removed");
    assert!(
        !dir.join("tmp/left.upload").exists(),
        "the stale temp file is removed"
    );
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.count("uploads").await, 0);

    // Termination.
    let url = create(&app, &cookie, 10, "y.wav").await;
    let del = Request::delete(&url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("r");
    assert_eq!(
        app.send(with_cookie(del, &other)).await.status,
        StatusCode::NOT_FOUND
    );
    let del = Request::delete(&url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("r");
    assert_eq!(
        app.send(with_cookie(del, &cookie)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    let parts = std::fs::read_dir(app.state.settings.data_dir.join("uploads"))
        .expect("dir")
        .count();
    assert_eq!(parts, 0, "no bytes are left behind");
}

/// A body that sends `first`, then waits for `go` before `rest` (or fails
/// when `go` is dropped: a client that went away).
fn slow_body(first: Vec<u8>, rest: Vec<u8>) -> (Body, tokio::sync::oneshot::Sender<bool>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<bool>();
    let stream = futures::stream::unfold(
        (Some(first), Some(rest), Some(rx)),
        |(first, rest, rx)| async move {
            if let Some(f) = first {
                return Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(f)),
                    (None, rest, rx),
                ));
            }
            let rx = rx?;
            match rx.await {
                Ok(true) => rest.map(|r| (Ok(Bytes::from(r)), (None, None, None))),
                _ => Some((
                    Err(std::io::Error::other("connection reset")),
                    (None, None, None),
                )),
            }
        },
    );
    (Body::from_stream(stream), tx)
}

async fn a_second_patch_is_refused_and_an_interrupted_patch_resumes(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::wav(1.0)).expect("wav");
    let url = create(&app, &cookie, bytes.len(), "take.wav").await;
    let cut = 50_000;

    // The first PATCH sends part of its body and stalls.
    let (body, go) = slow_body(bytes[..cut].to_vec(), Vec::new());
    let req = patch_req(&url, 0, Body::empty()).body(body).expect("r");
    let first =
        {
            let router = app.router.clone();
            let req = with_cookie(req, &cookie);
            tokio::spawn(async move {
                use tower::ServiceExt;
                let mut req = req;
                req.extensions_mut().insert(axum::extract::ConnectInfo(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
                ));
                router.oneshot(req).await.expect("infallible").status()
            })
        };
    // Wait until it holds the upload.
    for _ in 0..100 {
        let locked: Option<String> = sqlx::query_scalar("SELECT lock_token FROM uploads")
            .fetch_one(app.state.db.pool())
            .await
            .expect("row");
        if locked.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = app
        .send(with_cookie(patch(&url, 0, &bytes[..10]), &cookie))
        .await;
    assert_eq!(
        res.status,
        StatusCode::LOCKED,
        "a parallel PATCH is refused: {}",
        res.text
    );

    // The client goes away mid-body: what arrived is kept.
    drop(go);
    let status = first.await.expect("join");
    assert!(status.is_client_error(), "{status}");
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(
        hdr(&res, "upload-offset"),
        cut.to_string(),
        "bytes before the cut are kept"
    );
    // Resume from there.
    let res = app
        .send(with_cookie(patch(&url, cut, &bytes[cut..]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(
        stored,
        hex::encode(sha2::Sha256::digest(&bytes)),
        "the stored file is whole"
    );
}

async fn concatenation_joins_partial_uploads(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::flac(2.0)).expect("flac");
    let mid = bytes.len() / 3;
    let mut urls = Vec::new();
    for part in [&bytes[..mid], &bytes[mid..]] {
        let mut req = create_req(part.len(), &[]).body(Body::empty()).expect("r");
        req.headers_mut()
            .insert("upload-concat", "partial".parse().expect("h"));
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let url = hdr(&res, "location");
        let res = app.send(with_cookie(patch(&url, 0, part), &cookie)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(
            hdr(&res, "wavekeep-track-id").is_empty(),
            "a part is not a track"
        );
        urls.push(url);
    }
    let mut req = create_req(0, &[("filename", "joined.flac")])
        .body(Body::empty())
        .expect("r");
    req.headers_mut().remove("upload-length");
    req.headers_mut().insert(
        "upload-concat",
        format!("final;http://localhost{} {}", urls[0], urls[1])
            .parse()
            .expect("h"),
    );
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let id: i64 = hdr(&res, "wavekeep-track-id").parse().expect("track");
    let final_url = hdr(&res, "location");
    let res = app.send(with_cookie(head(&final_url), &cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(hdr(&res, "upload-concat").starts_with("final;"));
    assert_eq!(hdr(&res, "upload-length"), bytes.len().to_string());
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(&bytes)));
    process(&app).await;
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["title"], "joined");
    assert_eq!(t["versions"][0]["asset"]["codec"], "flac");
    let ms = t["duration_ms"].as_i64().expect("duration");
    assert!((ms - 2000).abs() <= 100, "{ms}");
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "wkboundary7f3a";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn post_track(
    key: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Request<Body> {
    let (ct, body) = multipart(fields, file);
    with_bearer(
        Request::post("/api/v1/tracks")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("r"),
        key,
    )
}

pub async fn api_key(app: &TestApp, cookie: &str) -> String {
    let req = Request::post("/api/v1/api-keys")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"robot"}"#))
        .expect("r");
    let res = app.send(with_cookie(req, cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    res.json()["secret"].as_str().expect("secret").to_string()
}

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
    let objects = walk(&app.state.settings.data_dir.join("objects"));
    assert_eq!(objects, 2, "and one file");
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

pub fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
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
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = app.send(with_bearer(get("/api/v1/me"), &key)).await;
        statuses.push(res.status.as_u16());
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                hdr(&res, "retry-after")
                    .parse::<u64>()
                    .expect("retry-after")
                    >= 1
            );
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

async fn malformed_files_fail_their_jobs_with_a_reason_and_the_server_keeps_answering(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let mut ids = Vec::new();
    for (name, bytes) in audio::malformed() {
        let res = app
            .send(post_track(&key, &[("title", name)], Some((name, &bytes))))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{name}: {}", res.text);
        ids.push((name, res.json()["id"].as_i64().expect("id")));
    }
    let started = std::time::Instant::now();
    process(&app).await;
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "no decoder hangs"
    );
    for (name, id) in ids {
        let t = track(&app, &cookie, id).await;
        if name == "truncated.mp3" {
            // What is there is audio: kept, with the duration it really has.
            assert_eq!(t["status"], "ready", "{name}: {t}");
            let ms = t["duration_ms"].as_i64().expect("duration");
            assert!(ms > 500 && ms < 2000, "{name}: {ms}");
            continue;
        }
        assert_eq!(t["status"], "failed", "{name}: {t}");
        let err = t["error"].as_str().unwrap_or_default();
        assert!(!err.is_empty() && !err.contains("panic"), "{name}: {err}");
        assert_eq!(
            t["jobs"][0]["state"], "Dead",
            "{name}: failed for good, not retried"
        );
        assert_eq!(t["jobs"][0]["attempts"], 1, "{name}");
        let res = app
            .send(with_cookie(
                get(&format!("/api/v1/tracks/{id}/peaks")),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT);
    }
    assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);
}

async fn track_events_stream_processing_live_until_done(b: Backend) {
    use futures::StreamExt;
    use tower::ServiceExt;
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let bytes = std::fs::read(audio::mp3(3.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Live")],
            Some(("live.mp3", &bytes)),
        ))
        .await;
    let id = res.json()["id"].as_i64().expect("id");

    let mut req = with_bearer(get(&format!("/api/v1/tracks/{id}/events")), &key);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            1,
        ))));
    let res = app.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        let mut body = res.into_body().into_data_stream();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    process(&app).await;
    let text = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the stream ends once the track is ready")
        .expect("join");
    let first = text
        .find("event: progress")
        .expect("a progress event first");
    let done = text.find("event: done").expect("a done event last");
    assert!(first < done, "{text}");
    assert!(text.contains("\"state\":\"Queued\""), "{text}");
    assert!(text[done..].contains("\"status\":\"ready\""), "{text}");
    assert!(text[done..].contains("\"duration_ms\":30"), "{text}");

    // Someone else cannot listen.
    let bob = app.register("bob@example.com").await;
    let res = app
        .send(with_cookie(
            get(&format!("/api/v1/tracks/{id}/events")),
            &bob,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// The stored object is exactly the content and sits under its sha256, after
/// PATCHes that were refused or cut off midway (each of which leaves the
/// receiver's running hash behind), and through the machine API.
async fn the_stored_object_is_the_content_under_its_hash(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::wav(0.5)).expect("wav");
    let url = create(&app, &cookie, bytes.len(), "take.wav").await;
    let ok = |res: &TestResponse| assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    ok(&app
        .send(with_cookie(patch(&url, 0, &bytes[..1000]), &cookie))
        .await);
    // A bad checksum: the bytes are dropped.
    let mut req = patch(&url, 1000, &bytes[1000..3000]);
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"other bytes"));
    req.headers_mut().insert(
        "upload-checksum",
        format!("sha1 {wrong}").parse().expect("h"),
    );
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status.as_u16(),
        460
    );
    // Past Upload-Length: refused, nothing kept.
    let mut long = bytes[1000..].to_vec();
    long.extend_from_slice(&[7u8; 100]);
    assert_eq!(
        app.send(with_cookie(patch(&url, 1000, &long), &cookie))
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Different bytes at the same offset, then the rest: only the rest counts.
    ok(&app
        .send(with_cookie(patch(&url, 1000, &bytes[1000..4000]), &cookie))
        .await);
    ok(&app
        .send(with_cookie(patch(&url, 4000, &bytes[4000..]), &cookie))
        .await);
    assert_stored(&app, &bytes).await;

    // The machine API hashes as it receives.
    let other = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let key = api_key(&app, &cookie).await;
    let res = app
        .send(post_track(
            &key,
            &[("title", "Other")],
            Some(("other.mp3", &other)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_stored(&app, &other).await;
}

/// An asset row holds `bytes` under their sha256, and its file is exactly them.
async fn assert_stored(app: &TestApp, bytes: &[u8]) {
    let sha = hex::encode(sha2::Sha256::digest(bytes));
    let (key, size): (String, i64) =
        sqlx::query_as("SELECT storage_key, size_bytes FROM assets WHERE sha256 = $1")
            .bind(&sha)
            .fetch_one(app.state.db.pool())
            .await
            .expect("an asset with the content's hash");
    assert_eq!(size, bytes.len() as i64);
    assert!(key.contains(&sha), "the key {key} names the hash");
    let path = app.state.settings.data_dir.join(&key);
    let on_disk = std::fs::read(&path).expect("stored file");
    assert!(on_disk == bytes, "the stored file is the content");
}

crate::both_backends!(
    track_events_stream_processing_live_until_done,
    the_stored_object_is_the_content_under_its_hash,
    uploads_in_chunks_with_checksums_and_becomes_a_processed_track,
    tus_conformance_errors,
    a_second_patch_is_refused_and_an_interrupted_patch_resumes,
    concatenation_joins_partial_uploads,
    the_machine_api_accepts_tracks_versions_and_stems_and_dedupes,
    quota_and_rate_limits_answer_clearly,
    malformed_files_fail_their_jobs_with_a_reason_and_the_server_keeps_answering,
    tuspy_uploads_and_resumes,
);

/// A real tus client (tuspy from PyPI, installed by scripts/test) uploads
/// to the real server over loopback, stops halfway and resumes.
async fn tuspy_uploads_and_resumes(b: Backend) {
    let Some(python) = std::env::var_os("WAVEKEEP_TEST_PYTHON") else {
        assert!(
            std::env::var_os("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_none(),
            "WAVEKEEP_TEST_PYTHON (a Python with tuspy) must be set"
        );
        eprintln!("skipped: set WAVEKEEP_TEST_PYTHON to a Python with tuspy");
        return;
    };
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let server = app.spawn().await;
    let file = audio::flac(4.0);
    let storage = tempfile::NamedTempFile::new().expect("storage file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/tuspy_upload.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(server.url(""))
        .arg(&key)
        .arg(&file)
        .arg(storage.path())
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "tuspy: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: i64 = stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("track id: {stdout}"));
    let bytes = std::fs::read(&file).expect("flac");
    let stored: String = sqlx::query_scalar("SELECT a.sha256 FROM assets a JOIN track_versions v ON v.asset_id = a.id WHERE v.track_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(&bytes)));
    let title: String = sqlx::query_scalar("SELECT title FROM tracks WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("title");
    assert_eq!(title, "From tuspy");
    server.stop().await;
}
