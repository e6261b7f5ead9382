//! Tried as an attacker would (issue 16): uploaded bytes never run as a page,
//! no request holds unbounded memory or a connection for ever, the quota
//! cannot be raced, a stored file is never removed under a new row, login
//! and registration limits hold across processes, revoked keys stop at
//! once, metric labels stay bounded, and the decoder sandbox gets little.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::{header, Request, StatusCode};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::audio;
use crate::helpers::{
    form, get, send_via, user_id, with_bearer, with_cookie, Backend, TestApp, PASSWORD,
};
use crate::uploads::{api_key, post_track, process};

const MEDIA_CSP: &str = "sandbox; default-src 'none'";

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A tus upload of `bytes` in one PATCH with the given metadata; the track id.
async fn tus_upload(app: &TestApp, cookie: &str, bytes: &[u8], meta: &[(&str, &str)]) -> i64 {
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
fn hostile_files() -> Vec<(&'static str, Vec<u8>)> {
    let page = b"<!doctype html><html><body><script>fetch('/api/v1/api-keys',{method:'POST'})</script></body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>"#.to_vec();
    let mut polyglot = b"<html><script>alert('polyglot')</script><!--".to_vec();
    polyglot.extend(std::fs::read(audio::mp3(1.0)).expect("mp3"));
    polyglot.extend_from_slice(b"--></html>");
    vec![("page", page), ("svg", svg), ("polyglot", polyglot)]
}

/// Every media URL of `asset` (stream, download, preview) for `user`.
fn media_urls(app: &TestApp, asset: i64, user: i64) -> Vec<String> {
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

async fn uploads_never_run_as_pages(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("mallory@example.com").await;
    let key = api_key(&app, &cookie).await;
    let me = user_id(&app, "mallory@example.com").await;
    let mut tracks = Vec::new();
    for (kind, bytes) in hostile_files() {
        for name in ["x.mp3", "x.html", "x.svg"] {
            // tus, claiming text/html.
            let title = format!("{kind} {name} tus");
            let id = tus_upload(
                &app,
                &cookie,
                &bytes,
                &[
                    ("filename", name),
                    ("filetype", "text/html"),
                    ("title", &title),
                ],
            )
            .await;
            tracks.push((kind, id));
            // The machine API, its part typed text/html.
            let boundary = "b0undary";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{kind} {name} api\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"{name}\"\r\n\
                 Content-Type: text/html\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let req = Request::post("/api/v1/tracks")
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .expect("request");
            let res = app.send(with_bearer(req, &key)).await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
            tracks.push((kind, res.json()["id"].as_i64().expect("id")));
        }
    }
    // Before any processing, and after it.
    for round in ["pending", "processed"] {
        if round == "processed" {
            process(&app).await;
        }
        for (kind, id) in &tracks {
            let res = app
                .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &cookie))
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            let t = res.json();
            let asset = t["versions"][0]["asset"]["id"].as_i64().expect("asset");
            let mime = t["versions"][0]["asset"]["mime"].as_str().unwrap_or("");
            assert!(
                mime.starts_with("audio/") || mime == "application/octet-stream",
                "{kind} {round}: stored type {mime}"
            );
            let recognised = t["versions"][0]["asset"]["codec"].is_string();
            // No stream link until the decoder recognised audio.
            assert_eq!(
                t.get("playback").is_some(),
                recognised,
                "{kind} {round}: playback {t}"
            );
            if *kind != "polyglot" {
                assert!(!recognised, "{kind} was taken for audio");
            }
            for url in media_urls(&app, asset, me) {
                let res = app.send(with_cookie(get(&url), &cookie)).await;
                let ct = res.header("content-type");
                assert!(
                    !ct.contains("html") && !ct.contains("svg") && !ct.contains("xml"),
                    "{kind} {round} {url}: {ct}"
                );
                assert_eq!(res.header("content-security-policy"), MEDIA_CSP, "{url}");
                assert_eq!(res.header("x-content-type-options"), "nosniff", "{url}");
                if res.status == StatusCode::OK {
                    assert!(
                        ct.starts_with("audio/") || ct == "application/octet-stream",
                        "{kind} {round}: {ct}"
                    );
                    if !ct.starts_with("audio/") {
                        assert!(
                            res.header("content-disposition").starts_with("attachment"),
                            "{kind} {round} {url}: {}",
                            res.header("content-disposition")
                        );
                    }
                }
            }
        }
    }
    // Even a file that plays is served sandboxed, never as a page.
    let (_, id) = tracks
        .iter()
        .find(|(k, _)| *k == "polyglot")
        .expect("polyglot");
    let res = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &cookie))
        .await;
    if let Some(src) = res.json()["playback"]["src"].as_str() {
        let res = app.send(with_cookie(get(src), &cookie)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header("content-type"), "audio/mpeg");
        assert_eq!(res.header("content-security-policy"), MEDIA_CSP);
    }
}

async fn pages_carry_a_nonce_policy_and_https_gets_hsts(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app.send(get("/")).await;
    assert_eq!(res.status, StatusCode::OK);
    let csp = res.header("content-security-policy").to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_string();
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("object-src 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page carries the nonce.
    for chunk in res.text.split("<script").skip(1) {
        let tag = chunk.split('>').next().unwrap_or("");
        if !tag.contains("src=") {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "inline script without the nonce: {tag}"
            );
        }
    }
    // A second page gets another nonce.
    let again = app.send(get("/")).await;
    assert_ne!(again.header("content-security-policy"), csp);
    // Not pages: nothing may load.
    let res = app.send(get("/api/queue-status")).await;
    assert!(res
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert!(res.headers.get("strict-transport-security").is_none());

    let proxied = TestApp::with(b, |s| s.trust_proxy = true).await;
    let mut req = get("/healthz");
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().expect("hv"));
    let res = proxied.send(req).await;
    assert!(res
        .header("strict-transport-security")
        .starts_with("max-age="));
    let res = proxied.send(get("/healthz")).await;
    assert!(res.headers.get("strict-transport-security").is_none());

    let https = TestApp::with(b, |s| s.public_url = "https://wavekeep.example".into()).await;
    for path in ["/", "/healthz", "/api/queue-status"] {
        let res = https.send(get(path)).await;
        assert!(
            res.header("strict-transport-security")
                .starts_with("max-age="),
            "{path}"
        );
    }
}

/// Reads `/proc/<pid>/status`'s `VmHWM` (peak resident memory) in bytes.
fn peak_rss(pid: u32) -> u64 {
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
async fn raw_post(addr: &str, head: &str, prefix: &[u8], filler: u8, body_len: u64) -> String {
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

/// A 200 MB text field is refused with 413 while the server's memory stays
/// flat (the real binary, so its memory is its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_text_field_is_refused_without_holding_it() {
    let server = crate::binary::Server::start(&[]).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/register", server.base))
        .form(&[("email", "big@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("register");
    assert!(res.status().is_success());
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wk_session="))
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let key = client
        .post(format!("{}/api/v1/api-keys", server.base))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "big"}))
        .send()
        .await
        .expect("key")
        .json::<serde_json::Value>()
        .await
        .expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let before = peak_rss(server.pid());
    let total: u64 = 200 * 1024 * 1024;
    let prefix = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n";
    let head = format!(
        "POST /api/v1/tracks HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        total + 64
    );
    let started = Instant::now();
    let status = raw_post(&server.addr, &head, prefix, b'a', total).await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let after = peak_rss(server.pid());
    let grown = after.saturating_sub(before);
    eprintln!("peak RSS {} -> {} MiB", before >> 20, after >> 20);
    assert!(grown < 50 << 20, "peak RSS grew by {} MiB", grown >> 20);
    // So does a body that never finishes a part's headers.
    let head = head.replace(&format!("{}", total + 64), &format!("{}", total));
    let status = raw_post(&server.addr, &head, b"--XyZ\r\nX-Junk: ", b'b', total).await;
    assert!(
        status.contains(" 413 ") || status.contains(" 400 "),
        "{status}"
    );
    let grown = peak_rss(server.pid()).saturating_sub(before);
    assert!(grown < 50 << 20, "peak RSS grew by {} MiB", grown >> 20);
    // Too many fields.
    let mut many = String::new();
    for i in 0..40 {
        many.push_str(&format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n"
        ));
    }
    many.push_str("--XyZ--\r\n");
    let res = client
        .post(format!("{}/api/v1/tracks", server.base))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(many)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 413);
    server.stop().await;
}

async fn slow_clients_are_cut_off(b: Backend) {
    let app = TestApp::with(b, |s| {
        s.body_idle = Duration::from_millis(800);
        s.body_min_rate = 100;
        s.header_timeout = Duration::from_secs(1);
    })
    .await;
    let cookie = app.register("slow@example.com").await;
    let server = app.spawn().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // A client that never finishes its headers is dropped.
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the server never dropped a client that sent no end of headers")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.contains("408"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A tus PATCH trickling a byte at a time is cut off; what arrived is kept
    // and the upload's lease is free for the next PATCH.
    let req = Request::post("/api/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "1000")
        .body(Body::empty())
        .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let url = res.header("location").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(&[7u8; 100]).await.expect("first bytes");
    let started = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if wr.write_all(&[7u8]).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(15), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("a trickling PATCH was never cut off"),
        }
    }
    trickle.abort();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let held: Option<i64> = sqlx::query_scalar("SELECT lock_until FROM uploads WHERE id = $1")
        .bind(url.rsplit('/').next().expect("id"))
        .fetch_one(app.state.db.pool())
        .await
        .expect("upload");
    assert_eq!(held, None, "the lease was not freed");
    let req = Request::head(&url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    let offset: usize = res.header("upload-offset").parse().expect("offset");
    assert!(offset >= 100, "kept {offset} bytes");
    let req = Request::patch(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(Body::from(vec![7u8; 1000 - offset]))
        .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    server.stop().await;
}

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

/// Every asset row's file exists and holds the content its hash names.
async fn every_asset_has_its_file(app: &TestApp) {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT storage_key, sha256 FROM assets")
        .fetch_all(app.state.db.pool())
        .await
        .expect("assets");
    for (key, sha) in rows {
        let path = app.state.settings.data_dir.join(&key);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("asset file {key} is missing: {e}"));
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha);
    }
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

async fn logins_and_registrations_are_limited_for_the_whole_deployment(b: Backend) {
    let app = TestApp::with(b, |s| {
        s.login_max_failures = 10;
        s.login_max_failures_per_hour = 15;
        s.register_per_hour = 3;
    })
    .await;
    // A second process on the same database.
    let other = app.second_process().await;
    let send_other = |req: Request<Body>, ip: &str| {
        let router = other.clone();
        let ip = ip.to_string();
        async move { send_via(router, req, &ip).await.status }
    };
    // Registrations per address, counted across both processes.
    for (i, ip) in ["10.9.0.1", "10.9.0.1", "10.9.0.1"].iter().enumerate() {
        let email = format!("r{i}@example.com");
        let res = if i % 2 == 0 {
            app.send_from(
                form(
                    "/api/register",
                    &[("email", &email), ("password", PASSWORD)],
                ),
                ip,
            )
            .await
            .status
        } else {
            send_other(
                form(
                    "/api/register",
                    &[("email", &email), ("password", PASSWORD)],
                ),
                ip,
            )
            .await
        };
        assert_eq!(res, StatusCode::OK);
    }
    let res = send_other(
        form(
            "/api/register",
            &[("email", "r9@example.com"), ("password", PASSWORD)],
        ),
        "10.9.0.1",
    )
    .await;
    assert_eq!(res, StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .send_from(
            form(
                "/api/register",
                &[("email", "r9@example.com"), ("password", PASSWORD)],
            ),
            "10.9.0.2",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);

    // 30 wrong passwords at once, half through each process: exactly ten
    // are judged, the rest refused unjudged.
    let bad = [
        ("email", "r0@example.com"),
        ("password", "not the password"),
    ];
    let mut tasks = Vec::new();
    for i in 0..30 {
        let ip = format!("10.8.{i}.1");
        if i % 2 == 0 {
            let router = app.router.clone();
            tasks.push(tokio::spawn(async move {
                send_via(router, form("/api/login", &bad), &ip).await.status
            }));
        } else {
            let fut = send_other(form("/api/login", &bad), &ip);
            tasks.push(tokio::spawn(fut));
        }
    }
    let mut judged = 0;
    for t in tasks {
        match t.await.expect("join") {
            StatusCode::UNAUTHORIZED => judged += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(judged, 10);

    // The hourly limit per account holds past the per-minute window.
    sqlx::query("UPDATE throttle_hits SET window_start = window_start - 120000 WHERE key LIKE 'login-acct:60:%' OR key LIKE 'login-ip:%'")
        .execute(app.state.db.pool())
        .await
        .expect("age the minute windows");
    let mut statuses = Vec::new();
    for i in 0..7 {
        let ip = format!("10.7.{i}.1");
        statuses.push(
            app.send_from(form("/api/login", &bad), &ip)
                .await
                .status
                .as_u16(),
        );
    }
    // 10 failures so far in the hour; 5 more are judged, then 429.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let good = [("email", "r0@example.com"), ("password", PASSWORD)];
    assert_eq!(
        app.send_from(form("/api/login", &good), "10.7.99.1")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn forwarded_for_is_read_from_the_right(b: Backend) {
    let app = TestApp::with(b, |s| s.trust_proxy = true).await;
    app.register("fwd@example.com").await;
    for i in 0..10 {
        let mut req = form(
            "/api/login",
            &[
                ("email", &format!("nobody{i}@example.com")),
                ("password", "wrong password 1"),
            ],
        );
        // The attacker writes a new address on the left each time; the
        // proxy appends the one it saw.
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{i}, 203.0.113.9").parse().expect("hv"),
        );
        assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
    }
    let mut req = form(
        "/api/login",
        &[("email", "fwd@example.com"), ("password", PASSWORD)],
    );
    req.headers_mut().insert(
        "x-forwarded-for",
        "192.0.2.77, 203.0.113.9".parse().expect("hv"),
    );
    assert_eq!(app.send(req).await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn the_https_session_cookie_is_host_prefixed(b: Backend) {
    let app = TestApp::with(b, |s| s.public_url = "https://wavekeep.example".into()).await;
    let res = app
        .send(form(
            "/api/register",
            &[("email", "h@example.com"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|c| c.contains("wk_session="))
        .expect("cookie");
    assert!(cookie.starts_with("__Host-wk_session="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
    let pair = cookie.split(';').next().expect("pair").to_string();
    let res = app.send(with_cookie(form("/api/viewer", &[]), &pair)).await;
    assert_eq!(res.json()["email"], "h@example.com");
    // The unprefixed name (which a subdomain could plant) means nothing over https.
    let planted = pair.replace("__Host-wk_session=", "wk_session=");
    let res = app
        .send(with_cookie(form("/api/viewer", &[]), &planted))
        .await;
    assert_eq!(res.json(), serde_json::Value::Null);
}

async fn a_revoked_key_is_refused_at_once_everywhere(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("keys@example.com").await;
    let key = api_key(&app, &cookie).await;
    let other = app.second_process().await;
    let me_on_other = || {
        let router = other.clone();
        let key = key.clone();
        async move {
            send_via(router, with_bearer(get("/api/v1/me"), &key), "127.0.0.1")
                .await
                .status
        }
    };
    assert_eq!(me_on_other().await, StatusCode::OK);
    let keys = app
        .send(with_cookie(get("/api/v1/api-keys"), &cookie))
        .await
        .json();
    let id = keys[0]["id"].as_i64().expect("id");
    let req = Request::delete(format!("/api/v1/api-keys/{id}"))
        .body(Body::empty())
        .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert!(res.status.is_success(), "{}", res.text);
    assert_eq!(me_on_other().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.send(with_bearer(get("/api/v1/me"), &key)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn metric_labels_stay_bounded(b: Backend) {
    let app = TestApp::new(b).await;
    let marker = format!("zz{}", rand::random::<u32>());
    for i in 0..40 {
        let method = http::Method::from_bytes(format!("X{marker}{i}").to_uppercase().as_bytes())
            .expect("method");
        let req = Request::builder()
            .method(method)
            .uri(format!("/{marker}/{i}"))
            .body(Body::empty())
            .expect("r");
        app.send(req).await;
        app.send(get(&format!("/{marker}/nothing/{i}"))).await;
        app.send(form(&format!("/api/{marker}{i}"), &[])).await;
    }
    let text = String::from_utf8_lossy(
        &http_body_util::BodyExt::collect(server::http::metrics::text().into_body())
            .await
            .expect("text")
            .to_bytes(),
    )
    .into_owned();
    let lower = text.to_lowercase();
    assert!(!lower.contains(&marker), "a request added label values");
    assert!(
        text.contains("method=\"OTHER\""),
        "unknown methods are not collapsed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decoder_sandbox_gets_little() {
    let pool =
        server::media::sandbox::MediaPool::new(env!("CARGO_BIN_EXE_wavekeep").into(), 1024, 1);
    // Whatever the parent holds, the child sees none of it.
    std::env::set_var("WAVEKEEP_TEST_SECRET", "do not leak");
    let c = pool.report().await.expect("report");
    assert_eq!(c.env_vars, 0, "{c:?}");
    assert!(c.seccomp, "{c:?}");
    assert!(c.spawn_refused, "the decoder could start a program: {c:?}");
    assert!(c.socket_refused, "the decoder could open a socket: {c:?}");
    let cpu = c.cpu_limit_secs.expect("a CPU-time limit");
    assert!(cpu <= 15, "{cpu}");
    assert_eq!(c.memory_limit_bytes, Some(1024 << 20));
    // A decode that runs out of time is the file's fault: not retried.
    use server::media::sandbox::SandboxError;
    assert!(SandboxError::TimedOut("slow".into()).is_permanent());
    assert!(!SandboxError::Io("disk".into()).is_permanent());
}

crate::both_backends!(
    uploads_never_run_as_pages,
    pages_carry_a_nonce_policy_and_https_gets_hsts,
    slow_clients_are_cut_off,
    the_quota_cannot_be_raced,
    concatenation_takes_each_own_part_once,
    a_file_is_never_removed_under_a_new_row,
    logins_and_registrations_are_limited_for_the_whole_deployment,
    forwarded_for_is_read_from_the_right,
    the_https_session_cookie_is_host_prefixed,
    a_revoked_key_is_refused_at_once_everywhere,
    metric_labels_stay_bounded,
);
