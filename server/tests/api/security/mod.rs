//! Tried as an attacker would (issue 16): uploaded bytes never run as a page,
//! no request holds unbounded memory or a connection for ever, the quota
//! cannot be raced, a stored file is never removed under a new row, login
//! and registration limits hold across processes, revoked keys stop at
//! once, metric labels stay bounded, and the decoder sandbox gets little.

use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::audio;
use crate::helpers::{with_cookie, TestApp};

mod accounts;
mod limits;
mod pages;
mod races;

pub const MEDIA_CSP: &str = "sandbox; default-src 'none'";

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A tus upload of `bytes` in one PATCH with the given metadata; the track id.
pub async fn tus_upload(app: &TestApp, cookie: &str, bytes: &[u8], meta: &[(&str, &str)]) -> i64 {
    let meta = meta
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v)))
        .collect::<Vec<_>>()
        .join(",");
    let req = Request::post("/api/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header("Upload-Metadata", meta)
        .body(Body::empty())
        .expect("request");
    let res = app.send(with_cookie(req, cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let url = res.header("location").to_string();
    let req = Request::patch(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(Body::from(bytes.to_vec()))
        .expect("request");
    let res = app.send(with_cookie(req, cookie)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    res.header("wavekeep-track-id").parse().expect("track id")
}

/// An HTML page, an SVG with script, and an HTML/MP3 polyglot.
pub fn hostile_files() -> Vec<(&'static str, Vec<u8>)> {
    let page = b"<!doctype html><html><body><script>fetch('/api/v1/api-keys',{method:'POST'})</script></body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>"#.to_vec();
    let mut polyglot = b"<html><script>alert('polyglot')</script><!--".to_vec();
    polyglot.extend(std::fs::read(audio::mp3(1.0)).expect("mp3"));
    polyglot.extend_from_slice(b"--></html>");
    vec![("page", page), ("svg", svg), ("polyglot", polyglot)]
}

/// Every media URL of `asset` (stream, download, preview) for `user`.
pub fn media_urls(app: &TestApp, asset: i64, user: i64) -> Vec<String> {
    [
        "stream/x.html",
        "download/x.svg",
        "preview/x.mp3",
        "stream/x.mp3",
    ]
    .iter()
    .map(|tail| {
        app.state.secrets.sign(
            &format!("/media/{asset}/{tail}"),
            Duration::from_secs(600),
            Some(user),
        )
    })
    .collect()
}

/// Reads `/proc/<pid>/status`'s `VmHWM` (peak resident memory) in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM")
}

/// Sends a raw HTTP/1.1 request head, then `body_len` bytes of `filler`
/// after `prefix`, while reading the answer; returns the status line.
pub async fn raw_post(addr: &str, head: &str, prefix: &[u8], filler: u8, body_len: u64) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let head = head.to_string();
    let prefix = prefix.to_vec();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        wr.write_all(&prefix).await?;
        let chunk = vec![filler; 64 * 1024];
        let mut sent = prefix.len() as u64;
        while sent < body_len {
            let n = chunk.len().min((body_len - sent) as usize);
            wr.write_all(&chunk[..n]).await?;
            sent += n as u64;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Every asset row's file exists and holds the content its hash names.
pub async fn every_asset_has_its_file(app: &TestApp) {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT storage_key, sha256 FROM assets")
        .fetch_all(app.state.db.pool())
        .await
        .expect("assets");
    for (key, sha) in rows {
        let bytes = app.stored(&key).await;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha);
    }
}
