//! Bounded requests and processes: a 200 MB text field, slow clients,
//! metric labels, and the decoder's sandbox.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::{header, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{form, get, with_cookie, Backend, TestApp, PASSWORD};

use super::*;

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

crate::both_backends!(slow_clients_are_cut_off, metric_labels_stay_bounded,);
