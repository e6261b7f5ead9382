//! Uploads, by room: tus (`tus`), the machine API's multipart form
//! (`machine_api`) and the media jobs that process what arrives
//! (`media_jobs`); the request builders they share are here.

mod machine_api;
mod media_jobs;
mod tus;
mod tus_conformance;

use std::time::Duration;

use axum::body::{Body, Bytes};
use base64::Engine;
use http::{header, Request, StatusCode};
use sha1::Digest;

use server::worker::{Worker, WorkerSettings};

use crate::helpers::{get, with_bearer, with_cookie, TestApp, TestResponse};

pub const OCTET: &str = "application/offset+octet-stream";

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn create_req(length: usize, meta: &[(&str, &str)]) -> http::request::Builder {
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

pub fn patch_req(url: &str, offset: usize, body: impl Into<Body>) -> http::request::Builder {
    let _ = body;
    Request::patch(url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header(header::CONTENT_TYPE, OCTET)
}

pub fn patch(url: &str, offset: usize, bytes: &[u8]) -> Request<Body> {
    patch_req(url, offset, Body::empty())
        .body(Body::from(bytes.to_vec()))
        .expect("request")
}

pub fn head(url: &str) -> Request<Body> {
    Request::head(url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("request")
}

pub fn hdr(res: &TestResponse, name: &str) -> String {
    res.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub async fn create(app: &TestApp, cookie: &str, length: usize, name: &str) -> String {
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

pub async fn track(app: &TestApp, cookie: &str, id: i64) -> serde_json::Value {
    let res = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), cookie))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.json()
}

/// A body that sends `first`, then waits for `go` before `rest` (or fails
/// when `go` is dropped: a client that went away).
pub fn slow_body(first: Vec<u8>, rest: Vec<u8>) -> (Body, tokio::sync::oneshot::Sender<bool>) {
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

pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
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
    // A large body in 64 KiB pieces, as it arrives from the network (the
    // server refuses to buffer more than 1 MiB while it looks for a part).
    let len = body.len();
    let body = if len > 1024 * 1024 {
        let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = body
            .chunks(64 * 1024)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(pieces))
    } else {
        Body::from(body)
    };
    with_bearer(
        Request::post("/api/v1/tracks")
            .header(header::CONTENT_TYPE, ct)
            .header(header::CONTENT_LENGTH, len)
            .body(body)
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

/// An asset row holds `bytes` under their sha256, and its file is exactly them.
pub async fn assert_stored(app: &TestApp, bytes: &[u8]) {
    let sha = hex::encode(sha2::Sha256::digest(bytes));
    let (key, size): (String, i64) =
        sqlx::query_as("SELECT storage_key, size_bytes FROM assets WHERE sha256 = $1")
            .bind(&sha)
            .fetch_one(app.state.db.pool())
            .await
            .expect("an asset with the content's hash");
    assert_eq!(size, bytes.len() as i64);
    assert!(key.contains(&sha), "the key {key} names the hash");
    let stored = app.stored(&key).await;
    assert!(stored == bytes, "the stored file is the content");
}
