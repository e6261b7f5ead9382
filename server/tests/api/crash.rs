//! kill -9 of the real server while 200 files are being processed: after a
//! restart every job finishes, and every effect exists exactly once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_wavekeep");
const FILES: usize = 200;

/// A mono 16-bit WAV of a tone; `n` makes each file's content distinct.
fn wav(n: usize) -> Vec<u8> {
    let rate = 8000u32;
    let frames = rate / 2;
    let freq = 200.0 + n as f64 * 7.0;
    let mut data = Vec::with_capacity(frames as usize * 2);
    for i in 0..frames {
        let v = (f64::from(i) / f64::from(rate) * freq * std::f64::consts::TAU).sin() * 8000.0;
        data.extend_from_slice(&(v as i16).to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path, url: &str, port: u16) -> Server {
    start_with(data, url, port, &[])
}

/// A loopback port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// The real server on `url`'s database and `data`, with `env` on top.
pub fn start_with(data: &Path, url: &str, port: u16, env: &[(&str, &str)]) -> Server {
    Server(
        Command::new(BIN)
            .env_clear()
            .envs(env.iter().copied())
            .env("DATABASE_URL", url)
            .env("WAVEKEEP_DATA_DIR", data)
            .env("WAVEKEEP_ADDR", format!("127.0.0.1:{port}"))
            .env("WAVEKEEP_LOG", "warn")
            .env("WAVEKEEP_JOB_LEASE_SECS", "3")
            .env("WAVEKEEP_API_RATE_PER_MINUTE", "100000")
            .env("WAVEKEEP_API_RATE_BURST", "10000")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wavekeep"),
    )
}

pub async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} never became ready");
}

async fn scalar(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.state.db.pool())
        .await
        .expect(sql)
}

async fn kill_9_mid_processing_loses_nothing_and_repeats_nothing(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = app::auth::service::create_api_key_for_email(&app.state, "ana@example.com", "crash")
        .await
        .expect("key")
        .secret;
    let _ = cookie;
    let data = tempfile::tempdir().expect("data dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(data.path(), &app.database_url, port);
    wait_ready(&base).await;

    // 200 files, 16 at a time; each queues a metadata job, then a waveform job.
    let client = reqwest::Client::new();
    let mut sizes = 0i64;
    for chunk in (0..FILES).collect::<Vec<_>>().chunks(16) {
        let sends = chunk.iter().map(|&n| {
            let body = wav(n);
            let form = reqwest::multipart::Form::new()
                .text("title", format!("take {n}"))
                .part(
                    "audio",
                    reqwest::multipart::Part::bytes(body).file_name(format!("take-{n}.wav")),
                );
            client
                .post(format!("{base}/api/v1/tracks"))
                .bearer_auth(&key)
                .multipart(form)
                .send()
        });
        for res in futures::future::join_all(sends).await {
            let res = res.expect("upload");
            assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
        }
        sizes += chunk.iter().map(|&n| wav(n).len() as i64).sum::<i64>();
    }
    // Kill -9 while jobs are still in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = scalar(&app, "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded' AND kind IN ('metadata', 'waveform')").await;
        if done >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "processing never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.0.kill().expect("kill -9");
    let _ = server.0.wait();
    let left = scalar(
        &app,
        "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
    )
    .await;
    assert!(left > 0, "the kill came while jobs were in flight");

    // Restart on the same database and data directory.
    let _server = start(data.path(), &app.database_url, port);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending = scalar(&app, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND kind IN ('metadata', 'waveform')").await;
        let assets = scalar(
            &app,
            "SELECT COUNT(*) FROM assets WHERE peaks_at IS NOT NULL",
        )
        .await;
        if pending == 0 && assets == FILES as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} jobs never finished after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every upload is one track, one version, one asset, one stored file.
    assert_eq!(app.count("tracks").await, FILES as i64);
    assert_eq!(app.count("track_versions").await, FILES as i64);
    assert_eq!(app.count("assets").await, FILES as i64);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM assets WHERE metadata_at IS NOT NULL AND duration_ms = 500"
        )
        .await,
        FILES as i64
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM track_versions WHERE status = 'ready'"
        )
        .await,
        FILES as i64
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM tracks WHERE duration_ms = 500").await,
        FILES as i64
    );
    // Exactly one metadata and one waveform job succeeded per file; nothing is dead.
    for kind in ["metadata", "waveform"] {
        let per_asset: Vec<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'succeeded' GROUP BY subject",
        )
        .bind(kind)
        .fetch_all(app.state.db.pool())
        .await
        .expect("jobs");
        assert_eq!(per_asset.len(), FILES, "{kind}: one subject per file");
        assert!(
            per_asset.iter().all(|&n| n == 1),
            "{kind} ran to success twice for a file"
        );
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM jobs WHERE state IN ('dead', 'cancelled') AND kind IN ('metadata', 'waveform')").await, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM jobs WHERE kind = 'waveform'").await,
        FILES as i64,
        "no waveform was queued twice"
    );
    // Storage: the totals match, and each asset's file is whole on disk.
    assert_eq!(
        scalar(&app, "SELECT storage_used_bytes FROM users").await,
        sizes
    );
    let keys: Vec<(String, i64)> = sqlx::query_as("SELECT storage_key, size_bytes FROM assets")
        .fetch_all(app.state.db.pool())
        .await
        .expect("keys");
    for (key, size) in keys {
        let meta = std::fs::metadata(data.path().join(&key)).expect("object file");
        assert_eq!(meta.len() as i64, size, "{key}");
    }
}

/// kill -9 of the instance receiving a PATCH: another instance (here on the
/// same database and spool) continues the upload from the offset the
/// database holds as soon as the dead one's lease runs out, within seconds
/// (the lease is short and kept alive by a heartbeat while a PATCH runs).
async fn kill_9_mid_patch_frees_the_upload_within_seconds(b: Backend) {
    use base64::Engine;
    let app = TestApp::new(b).await;
    app.register("ana@example.com").await;
    let key = app::auth::service::create_api_key_for_email(&app.state, "ana@example.com", "crash")
        .await
        .expect("key")
        .secret;
    let data = tempfile::tempdir().expect("data dir");
    let (port_a, port_b) = (free_port(), free_port());
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut a = start(data.path(), &app.database_url, port_a);
    let _b = start(data.path(), &app.database_url, port_b);
    wait_ready(&base_a).await;
    wait_ready(&base_b).await;
    let file: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let client = reqwest::Client::new();
    let name = base64::engine::general_purpose::STANDARD.encode("big.bin");
    let created = client
        .post(format!("{base_a}/api/uploads"))
        .bearer_auth(&key)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", file.len().to_string())
        .header("Upload-Metadata", format!("filename {name}"))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();

    // A PATCH on A sends 1 MiB, then hangs; A dies under it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tx.send(Ok(file[..1024 * 1024].to_vec()))
        .await
        .expect("send");
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let hanging = tokio::spawn(
        client
            .patch(format!("{base_a}{location}"))
            .bearer_auth(&key)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send(),
    );
    let lease = || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT lock_token FROM uploads")
            .fetch_one(app.state.db.pool())
            .await
            .expect("lease")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while lease().await.is_none() {
        assert!(Instant::now() < deadline, "the PATCH never took its lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.0.kill().expect("kill -9");
    let _ = a.0.wait();
    let killed_at = Instant::now();
    drop(tx);
    let _ = hanging.await;

    // B: the offset the database holds, and the upload is taken up again
    // once the dead lease runs out.
    let head = client
        .head(format!("{base_b}{location}"))
        .bearer_auth(&key)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    let offset: usize = head.headers()["upload-offset"]
        .to_str()
        .expect("offset")
        .parse()
        .expect("number");
    assert_eq!(offset, 0, "the killed PATCH recorded nothing");
    let finished = loop {
        let res = client
            .patch(format!("{base_b}{location}"))
            .bearer_auth(&key)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(file[offset..].to_vec())
            .send()
            .await
            .expect("patch");
        match res.status().as_u16() {
            204 => break killed_at.elapsed(),
            423 => {
                assert!(
                    killed_at.elapsed() < Duration::from_secs(15),
                    "the dead instance's lease was never freed"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!("PATCH on B: {other}"),
        }
    };
    assert!(finished < Duration::from_secs(12), "{finished:?}");
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&file)));
}

crate::both_backends!(
    kill_9_mid_processing_loses_nothing_and_repeats_nothing,
    kill_9_mid_patch_frees_the_upload_within_seconds,
);
