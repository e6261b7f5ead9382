//! Two real wavekeep processes (A and B), each with a data directory of its
//! own, on one database and one S3 bucket (SeaweedFS on loopback): a tus
//! upload continues on whichever instance a request lands on, survives
//! `kill -9` of the instance receiving it, and leaves nothing behind in the
//! bucket — checked with a real S3 client (boto3), which sees multipart
//! uploads that object_store cannot list.

use std::time::{Duration, Instant};

use base64::Engine;
use sha2::Digest;

use crate::crash::{free_port, start_with, wait_ready, Server};
use crate::helpers::{s3_settings, Backend, TestApp};

const MIB: usize = 1024 * 1024;

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Distinct bytes, so a part in the wrong place changes the hash.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 4096) % 251) as u8)
        .collect()
}

struct Pair {
    a: Server,
    _b: Server,
    base_a: String,
    base_b: String,
    key: String,
    /// The bucket prefix both instances store under.
    prefix: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    client: reqwest::Client,
}

/// A and B on `app`'s database and a fresh prefix of the suite's bucket;
/// `None` (skipped) when there is no S3 server.
async fn two_on_s3(app: &TestApp) -> Option<Pair> {
    let Some(s3) = s3_settings() else {
        eprintln!("skipped: no S3 server (WAVEKEEP_TEST_S3_ENDPOINT)");
        return None;
    };
    app.register("ana@example.com").await;
    let key = app::auth::service::create_api_key_for_email(&app.state, "ana@example.com", "s3")
        .await
        .expect("key")
        .secret;
    let env: Vec<(&str, String)> = vec![
        (
            "WAVEKEEP_STORAGE",
            format!("s3://{}/{}", s3.bucket, s3.prefix),
        ),
        (
            "WAVEKEEP_S3_ENDPOINT",
            s3.endpoint.clone().unwrap_or_default(),
        ),
        ("WAVEKEEP_S3_REGION", "us-east-1".into()),
        (
            "WAVEKEEP_S3_ACCESS_KEY_ID",
            s3.access_key_id.clone().unwrap_or_default(),
        ),
        (
            "WAVEKEEP_S3_SECRET_ACCESS_KEY",
            std::env::var("WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY").unwrap_or_default(),
        ),
        ("WAVEKEEP_S3_ALLOW_HTTP", "true".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dirs = (
        tempfile::tempdir().expect("dir a"),
        tempfile::tempdir().expect("dir b"),
    );
    let (a, b, base_a, base_b) =
        start_pair(&app.database_url, (dirs.0.path(), dirs.1.path()), &env).await;
    Some(Pair {
        a,
        _b: b,
        base_a,
        base_b,
        key,
        prefix: s3.prefix,
        _dirs: dirs,
        client: reqwest::Client::new(),
    })
}

/// Two real servers on database `url`, each on its data directory, ready;
/// with their base URLs.
async fn start_pair(
    url: &str,
    dirs: (&std::path::Path, &std::path::Path),
    env: &[(&str, &str)],
) -> (Server, Server, String, String) {
    let (port_a, port_b) = (free_port(), free_port());
    let a = start_with(dirs.0, url, port_a, env);
    let b = start_with(dirs.1, url, port_b, env);
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    wait_ready(&base_a).await;
    wait_ready(&base_b).await;
    (a, b, base_a, base_b)
}

impl Pair {
    async fn create(&self, base: &str, len: usize) -> String {
        let name = base64::engine::general_purpose::STANDARD.encode("take.bin");
        let res = self
            .client
            .post(format!("{base}/api/uploads"))
            .bearer_auth(&self.key)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", len.to_string())
            .header("Upload-Metadata", format!("filename {name}"))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), 201);
        res.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    }

    fn patch(&self, base: &str, location: &str, offset: usize) -> reqwest::RequestBuilder {
        self.client
            .patch(format!("{base}{location}"))
            .bearer_auth(&self.key)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
    }

    async fn offset(&self, base: &str, location: &str) -> usize {
        let res = self
            .client
            .head(format!("{base}{location}"))
            .bearer_auth(&self.key)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head");
        assert_eq!(res.status(), 200, "HEAD on {base}");
        res.headers()["upload-offset"]
            .to_str()
            .expect("offset")
            .parse()
            .expect("number")
    }
}

/// What a real S3 client sees under `prefix`: multipart uploads not
/// completed or aborted, and objects under the upload staging folder.
fn bucket_leftovers(prefix: &str) -> Option<(usize, Vec<String>)> {
    let Some(python) = std::env::var_os("WAVEKEEP_TEST_PYTHON") else {
        assert!(
            std::env::var("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_err(),
            "WAVEKEEP_TEST_PYTHON (a Python with boto3) must be set"
        );
        eprintln!("not checked: set WAVEKEEP_TEST_PYTHON to a Python with boto3");
        return None;
    };
    let script = r#"
import json, os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["WAVEKEEP_TEST_S3_ENDPOINT"],
    aws_access_key_id=os.environ["WAVEKEEP_TEST_S3_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY"],
    region_name="us-east-1")
bucket, prefix = os.environ.get("WAVEKEEP_TEST_S3_BUCKET", "wavekeep-test"), sys.argv[1]
uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads", [])
objects = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/uploads/").get("Contents", [])
print(json.dumps({"multipart": len(uploads), "objects": [o["Key"] for o in objects]}))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, prefix])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let objects = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    Some((v["multipart"].as_u64().expect("n") as usize, objects))
}

/// Waits until nothing of unfinished uploads is left in the bucket (the
/// last steps of a finished upload run right after its answer).
async fn assert_bucket_clean(prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Some((multipart, objects)) = bucket_leftovers(prefix) else {
            return;
        };
        if multipart == 0 && objects.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left in the bucket: {multipart} multipart uploads, objects {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn upload_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn patches_alternate_between_instances_on_one_bucket(b: Backend) {
    let app = TestApp::new(b).await;
    let Some(p) = two_on_s3(&app).await else {
        return;
    };
    // Three parts of 8 MiB and a tail, sent in pieces that never line up
    // with a part: every PATCH carries another instance's tail on.
    let file = pattern(3 * 8 * MIB + 777_777);
    let location = p.create(&p.base_a, file.len()).await;
    let pieces: Vec<std::ops::Range<usize>> = (0..file.len())
        .step_by(3 * MIB + 12_345)
        .map(|s| s..(s + 3 * MIB + 12_345).min(file.len()))
        .collect();
    let n = pieces.len();
    let mut last = None;
    for (i, piece) in pieces.into_iter().enumerate() {
        // The last PATCH lands on B; the ones before alternate.
        let (this, other) = if (n - 1 - i) % 2 == 0 {
            (&p.base_b, &p.base_a)
        } else {
            (&p.base_a, &p.base_b)
        };
        assert_eq!(
            p.offset(other, &location).await,
            piece.start,
            "HEAD on the other instance first"
        );
        let res = p
            .patch(this, &location, piece.start)
            .body(file[piece.clone()].to_vec())
            .send()
            .await
            .expect("patch");
        assert_eq!(res.status(), 204, "PATCH {i} at {}", piece.start);
        assert_eq!(
            res.headers()["upload-offset"].to_str().expect("offset"),
            piece.end.to_string()
        );
        last = Some(res);
    }
    let done = last.expect("a PATCH");
    let track = track_of_on(&p, &p.base_a, &done).await;
    let url = track["versions"][0]["download_url"]
        .as_str()
        .expect("download url");
    let url = format!("{}{url}", p.base_a);
    // Read from A, with a range across the first part boundary.
    let start = 8 * MIB - 100;
    let ranged = p
        .client
        .get(&url)
        .header("range", format!("bytes={start}-{}", start + 199))
        .send()
        .await
        .expect("range");
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.bytes().await.expect("bytes").as_ref(),
        &file[start..start + 200]
    );
    let whole = p.client.get(&url).send().await.expect("get");
    assert_eq!(whole.status(), 200);
    assert_eq!(sha(&whole.bytes().await.expect("bytes")), sha(&file));
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, sha(&file), "the hash carried across instances");
    // The machine API streams into the bucket too: a file of two parts.
    let big = pattern(9 * MIB + 5);
    let form = reqwest::multipart::Form::new()
        .text("title", "streamed")
        .part(
            "audio",
            reqwest::multipart::Part::bytes(big.clone()).file_name("streamed.bin"),
        );
    let res = p
        .client
        .post(format!("{}/api/v1/tracks", p.base_b))
        .bearer_auth(&p.key)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 202);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE sha256 = $1")
        .bind(sha(&big))
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(n, 1);
    // Nothing of the uploads stays: no parts, no tails, no local bytes.
    assert_bucket_clean(&p.prefix).await;
    assert_eq!(
        upload_files(p._dirs.0.path()) + upload_files(p._dirs.1.path()),
        0
    );
}

async fn the_same_offset_on_two_instances_at_once_is_taken_once(b: Backend) {
    let app = TestApp::new(b).await;
    let Some(p) = two_on_s3(&app).await else {
        return;
    };
    let file = pattern(4 * MIB);
    let location = p.create(&p.base_a, file.len()).await;
    // Two PATCHes of the first 2 MiB, each slow enough to overlap.
    let slow = |bytes: Vec<u8>| {
        let (first, rest) = bytes.split_at(MIB / 2);
        let (first, rest) = (first.to_vec(), rest.to_vec());
        reqwest::Body::wrap_stream(futures::stream::unfold(0, move |step| {
            let (first, rest) = (first.clone(), rest.clone());
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(first), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(600)).await;
                        Some((Ok(rest), 2))
                    }
                    _ => None,
                }
            }
        }))
    };
    let on_a = p
        .patch(&p.base_a, &location, 0)
        .body(slow(file[..2 * MIB].to_vec()))
        .send();
    let on_b = p
        .patch(&p.base_b, &location, 0)
        .body(slow(file[..2 * MIB].to_vec()))
        .send();
    let (ra, rb) = tokio::join!(on_a, on_b);
    let mut codes = [
        ra.expect("a").status().as_u16(),
        rb.expect("b").status().as_u16(),
    ];
    codes.sort_unstable();
    assert_eq!(codes[0], 204, "one PATCH wins: {codes:?}");
    assert!(
        matches!(codes[1], 409 | 423),
        "the other is refused: {codes:?}"
    );
    assert_eq!(p.offset(&p.base_a, &location).await, 2 * MIB);
    assert_eq!(p.offset(&p.base_b, &location).await, 2 * MIB);
    // It finishes, byte for byte.
    let res = p
        .patch(&p.base_b, &location, 2 * MIB)
        .body(file[2 * MIB..].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 204);
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, sha(&file));
}

async fn kill_9_mid_patch_on_s3_is_finished_by_the_other_instance(b: Backend) {
    let app = TestApp::new(b).await;
    let Some(mut p) = two_on_s3(&app).await else {
        return;
    };
    let file = pattern(20 * MIB);
    let location = p.create(&p.base_a, file.len()).await;
    // One 20 MiB PATCH on A, with its length declared: 12 MiB arrive, then
    // nothing; A dies under it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    for chunk in file[..12 * MIB].chunks(MIB) {
        tx.send(Ok(chunk.to_vec())).await.expect("send");
    }
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let hanging = tokio::spawn(
        p.patch(&p.base_a, &location, 0)
            .header("content-length", file.len().to_string())
            .body(body)
            .send(),
    );
    // The first full part is recorded while the PATCH still runs.
    let received = || async {
        sqlx::query_scalar::<_, i64>("SELECT received FROM uploads")
            .fetch_one(app.state.db.pool())
            .await
            .expect("received")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while received().await == 0 {
        assert!(Instant::now() < deadline, "no part was recorded mid-PATCH");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.a.0.kill().expect("kill -9");
    let _ = p.a.0.wait();
    let killed_at = Instant::now();
    drop(tx);
    let _ = hanging.await;

    // B resumes from the offset the database holds: the recorded parts.
    let offset = p.offset(&p.base_b, &location).await;
    assert_eq!(offset as i64, received().await);
    assert_eq!(offset % (8 * MIB), 0, "a part boundary: {offset}");
    assert!(offset >= 8 * MIB, "{offset}");
    let done = loop {
        // While the dead lease holds, B answers 423 without reading the
        // body (the client may see its connection closed under it instead).
        let sent = p
            .patch(&p.base_b, &location, offset)
            .body(file[offset..].to_vec())
            .send()
            .await;
        let status = sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(423);
        match status {
            204 => break sent.expect("answered"),
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
    assert!(killed_at.elapsed() < Duration::from_secs(20));
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, sha(&file));
    // B's copy reads back whole.
    let track = track_of_on(&p, &p.base_b, &done).await;
    let url = track["versions"][0]["download_url"].as_str().expect("url");
    let whole = p
        .client
        .get(format!("{}{url}", p.base_b))
        .send()
        .await
        .expect("get");
    assert_eq!(sha(&whole.bytes().await.expect("bytes")), sha(&file));
    // Nothing left behind: the multipart upload was completed, no tail.
    assert_bucket_clean(&p.prefix).await;
}

async fn track_of_on(p: &Pair, base: &str, res: &reqwest::Response) -> serde_json::Value {
    let id = res.headers()["wavekeep-track-id"]
        .to_str()
        .expect("track id")
        .to_string();
    p.client
        .get(format!("{base}/api/v1/tracks/{id}"))
        .bearer_auth(&p.key)
        .send()
        .await
        .expect("track")
        .json()
        .await
        .expect("json")
}

/// Unfinished uploads with parts and a tail in the bucket: termination and
/// expiry abort their multipart uploads and remove their objects.
async fn terminated_and_expired_uploads_leave_nothing_in_the_bucket(b: Backend) {
    use crate::helpers::with_cookie;
    use crate::uploads::{create, patch};
    let Some(s3) = s3_settings() else {
        eprintln!("skipped: no S3 server (WAVEKEEP_TEST_S3_ENDPOINT)");
        return;
    };
    let prefix = s3.prefix.clone();
    let app = TestApp::with(b, |s| s.object_store = Some(s3)).await;
    let cookie = app.register("ana@example.com").await;
    let file = pattern(10 * MIB);
    let mut urls = Vec::new();
    for name in ["terminated.bin", "expired.bin"] {
        let url = create(&app, &cookie, file.len(), name).await;
        let res = app
            .send(with_cookie(patch(&url, 0, &file[..9 * MIB]), &cookie))
            .await;
        assert_eq!(res.status, http::StatusCode::NO_CONTENT, "{}", res.text);
        urls.push(url);
    }
    let Some((multipart, objects)) = bucket_leftovers(&prefix) else {
        return;
    };
    assert_eq!(multipart, 2, "one multipart upload each");
    assert_eq!(objects.len(), 2, "one tail each: {objects:?}");
    // The second PATCH's tail replaces the first's.
    let res = app
        .send(with_cookie(
            patch(&urls[1], 9 * MIB, &file[9 * MIB..9 * MIB + 1000]),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, http::StatusCode::NO_CONTENT);
    let (_, objects) = bucket_leftovers(&prefix).expect("leftovers");
    assert_eq!(objects.len(), 2, "still one tail each: {objects:?}");

    let del = http::Request::delete(urls[0].as_str())
        .header("Tus-Resumable", "1.0.0")
        .body(axum::body::Body::empty())
        .expect("request");
    let res = app.send(with_cookie(del, &cookie)).await;
    assert_eq!(res.status, http::StatusCode::NO_CONTENT);
    sqlx::query("UPDATE uploads SET expires_at = 0")
        .execute(app.state.db.pool())
        .await
        .expect("expire");
    server::storage::sweep::sweep(&app.state, &app.state.storage)
        .await
        .expect("sweep");
    assert_bucket_clean(&prefix).await;
}

/// One server-sent event: (id, event name, data).
type Sse = (Option<i64>, String, String);

/// Reads `res`'s event stream into a channel, event by event.
fn read_events(res: reqwest::Response) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut stream = res.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if !name.is_empty() && tx.send((id, name, data)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The next `created` change on `rx` within `wait`: (event id, track id).
async fn next_created(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>,
    wait: Duration,
) -> (i64, i64) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (id, name, data) = tokio::time::timeout(left, rx.recv())
            .await
            .expect("a change in time")
            .expect("the stream is open");
        if name != "change" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&data).expect("json");
        let id = id.expect("an event id");
        assert_eq!(
            v["id"].as_i64(),
            Some(id),
            "the event id is the change's id"
        );
        if v["kind"] == "created" {
            return (id, v["track_id"].as_i64().expect("track id"));
        }
    }
}

async fn post_file(client: &reqwest::Client, base: &str, key: &str, title: &str) -> i64 {
    let form = reqwest::multipart::Form::new()
        .text("title", title.to_string())
        .part(
            "audio",
            reqwest::multipart::Part::bytes([title.as_bytes(), &pattern(1000)].concat())
                .file_name(format!("{title}.bin")),
        );
    let res = client
        .post(format!("{base}/api/v1/tracks"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 202);
    res.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

async fn a_feed_client_reconnecting_elsewhere_replays_what_it_missed(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("ana@example.com").await;
    let key = app::auth::service::create_api_key_for_email(&app.state, "ana@example.com", "feed")
        .await
        .expect("key")
        .secret;
    let data = tempfile::tempdir().expect("data dir");
    let (_a, _b, base_a, base_b) =
        start_pair(&app.database_url, (data.path(), data.path()), &[]).await;
    let client = reqwest::Client::new();
    let feed = |base: &str, last: Option<i64>| {
        let mut req = client
            .get(format!("{base}/api/v1/changes"))
            .bearer_auth(&key)
            .header("accept", "text/event-stream");
        if let Some(id) = last {
            req = req.header("last-event-id", id.to_string());
        }
        req.send()
    };

    // Live on A: a track uploaded on B shows up within a second or two.
    let res = feed(&base_a, None).await.expect("feed");
    assert_eq!(res.status(), 200);
    let mut on_a = read_events(res);
    let first = post_file(&client, &base_b, &key, "first").await;
    let (seen, track) = next_created(&mut on_a, Duration::from_secs(3)).await;
    assert_eq!(track, first);
    drop(on_a);

    // Away: two more, one on each instance.
    let second = post_file(&client, &base_a, &key, "second").await;
    let third = post_file(&client, &base_b, &key, "third").await;

    // Back, on B, from the last id seen: exactly what was missed, in order.
    let mut on_b = read_events(feed(&base_b, Some(seen)).await.expect("feed"));
    let (id2, t2) = next_created(&mut on_b, Duration::from_secs(3)).await;
    let (id3, t3) = next_created(&mut on_b, Duration::from_secs(3)).await;
    assert_eq!((t2, t3), (second, third));
    assert!(seen < id2 && id2 < id3);

    // Another user hears nothing of ana's private tracks.
    app.register("bob@example.com").await;
    let bob = app::auth::service::create_api_key_for_email(&app.state, "bob@example.com", "feed")
        .await
        .expect("key")
        .secret;
    let res = client
        .get(format!("{base_a}/api/v1/changes?after=0"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("feed");
    let mut on_bob = read_events(res);
    let heard = tokio::time::timeout(Duration::from_millis(1500), on_bob.recv()).await;
    assert!(heard.is_err(), "bob heard {heard:?}");
}

crate::both_backends!(
    a_feed_client_reconnecting_elsewhere_replays_what_it_missed,
    terminated_and_expired_uploads_leave_nothing_in_the_bucket,
    patches_alternate_between_instances_on_one_bucket,
    the_same_offset_on_two_instances_at_once_is_taken_once,
    kill_9_mid_patch_on_s3_is_finished_by_the_other_instance,
);
