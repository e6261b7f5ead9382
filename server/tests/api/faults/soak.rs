//! The crash soak: jobs whose handler records its effect, and uploads (tus
//! and the machine API) in flight, while the server is SIGKILLed at random
//! moments. After every restart each acknowledged upload is stored under
//! its sha256 and SQLite's `integrity_check` says ok; at the end every job
//! has succeeded with exactly one effect, none died, and a sweep leaves no
//! temporary file.
//!
//! The server runs in a child process: this test binary started again
//! with `WAVEKEEP_SOAK_NODE` set runs only `soak_node`, a wavekeep server
//! with one extra job kind (`soak`). In the normal suite it kills 3 times
//! over 300 jobs; the full soak:
//!
//!   WAVEKEEP_SOAK_KILLS=20 WAVEKEEP_SOAK_JOBS=1000 \
//!     cargo test -p server --test api faults::soak -- --nocapture

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sha2::Digest;

use server::worker::{Job, JobContext, JobFuture};

use crate::helpers::{Backend, TestApp};
use crate::uploads::{api_key, walk};

const NODE_ENV: &str = "WAVEKEEP_SOAK_NODE";

/// Records one run of each attempt, then its effect once per job.
struct Soak;

impl Job for Soak {
    fn kind(&self) -> &'static str {
        "soak"
    }
    fn concurrency(&self) -> usize {
        8
    }
    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move {
            let db = ctx.state.db.pool();
            let fail = |e: sqlx::Error| server::worker::JobError::retry(e.to_string());
            sqlx::query("INSERT INTO soak_runs (job_id, attempt) VALUES ($1, $2)")
                .bind(ctx.job_id)
                .bind(ctx.attempt)
                .execute(db)
                .await
                .map_err(fail)?;
            let pause = rand::rng().random_range(0..30);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            sqlx::query(
                "INSERT INTO soak_effects (job_id, payload) VALUES ($1, $2) \
                 ON CONFLICT (job_id) DO NOTHING",
            )
            .bind(ctx.job_id)
            .bind(&ctx.payload)
            .execute(db)
            .await
            .map_err(fail)?;
            Ok(())
        })
    }
}

/// The child: a wavekeep server (every job kind plus `soak`) on a free
/// port, written to the file named by the node settings, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_node() {
    let Ok(spec) = std::env::var(NODE_ENV) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("node spec");
    let text = |k: &str| spec[k].as_str().expect("field").to_string();
    let mut settings = app::settings::Settings {
        data_dir: PathBuf::from(text("data_dir")),
        job_lease: Duration::from_secs(2),
        api_rate_per_minute: 1_000_000,
        api_rate_burst: 1_000_000,
        ..app::settings::Settings::default()
    };
    settings.pool.min_connections = 0;
    settings.media_exe = Some(env!("CARGO_BIN_EXE_wavekeep").into());
    let state = server::build_state(
        settings,
        &text("database_url"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut kinds = server::worker::all_jobs(&state.settings);
    kinds.push(Arc::new(Soak));
    let port_file = text("port_file");
    std::fs::write(format!("{port_file}.tmp"), port.to_string()).expect("port");
    std::fs::rename(format!("{port_file}.tmp"), &port_file).expect("port");
    let _ = server::serve_with_jobs(state, listener, std::future::pending(), kinds).await;
}

/// A running node; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(database_url: &str, data_dir: &Path, scratch: &Path) -> Node {
        let port_file = scratch.join(format!("port-{}", rand::random::<u32>()));
        let spec = serde_json::json!({
            "database_url": database_url,
            "data_dir": data_dir,
            "port_file": port_file,
        });
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "faults::soak::soak_node",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(NODE_ENV, spec.to_string())
            .env_remove("WAVEKEEP_TEST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the node");
        let until = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p;
            }
            assert!(Instant::now() < until, "the node did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Node {
            child,
            base: format!("http://127.0.0.1:{}", port.trim()),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A distinct real WAV: the tone with a few samples changed.
fn distinct_wav(base: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut w = base.to_vec();
    for _ in 0..8 {
        let at = rng.random_range(100..w.len());
        w[at] = rng.random();
    }
    w
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Uploads until the node dies; returns the hashes the server acknowledged.
async fn upload_until_dead(
    base: String,
    key: String,
    wav: Vec<u8>,
    tus: bool,
    seed: u64,
) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked = Vec::new();
    loop {
        let bytes = distinct_wav(&wav, &mut rng);
        let ok = if tus {
            let created = client
                .post(format!("{base}/api/uploads"))
                .bearer_auth(&key)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", bytes.len().to_string())
                .header("Upload-Metadata", "filename c29hay53YXY=")
                .send()
                .await;
            let Some(loc) = created.ok().and_then(|r| {
                r.headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            }) else {
                return acked;
            };
            let url = if loc.starts_with("http") {
                loc
            } else {
                format!("{base}{loc}")
            };
            let half = bytes.len() / 2;
            let mut done = false;
            for (from, to) in [(0, half), (half, bytes.len())] {
                let res = client
                    .patch(&url)
                    .bearer_auth(&key)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Offset", from.to_string())
                    .header("content-type", "application/offset+octet-stream")
                    .body(bytes[from..to].to_vec())
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => {
                        done = to == bytes.len()
                    }
                    _ => return acked,
                }
            }
            done
        } else {
            let form = reqwest::multipart::Form::new().text("title", "soak").part(
                "audio",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name("soak.wav"),
            );
            match client
                .post(format!("{base}/api/v1/tracks"))
                .bearer_auth(&key)
                .multipart(form)
                .send()
                .await
            {
                Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => true,
                Ok(r) if r.status().is_server_error() => return acked,
                Ok(r) => panic!("upload refused: {}", r.status()),
                Err(_) => return acked,
            }
        };
        if ok {
            acked.push(sha(&bytes));
        }
    }
}

/// Every acknowledged upload is an asset whose file hashes to its sha256.
async fn assert_all_stored(app: &TestApp, data: &Path, acked: &[String]) {
    for want in acked {
        let key: Option<String> =
            sqlx::query_scalar("SELECT storage_key FROM assets WHERE sha256 = $1")
                .bind(want)
                .fetch_optional(app.state.db.pool())
                .await
                .expect("asset");
        let key = key.unwrap_or_else(|| panic!("acknowledged upload {want} has no asset"));
        let bytes = std::fs::read(data.join(&key)).expect("stored file");
        assert_eq!(
            &sha(&bytes),
            want,
            "the stored file is what was acknowledged"
        );
    }
}

/// SQLite's `integrity_check` on a fresh connection, as a restarted
/// process sees the file. (A connection kept open in this process across
/// another process's writes can report the FTS5 index stale; the file is
/// what a crash could damage.)
async fn integrity_ok(app: &TestApp, b: Backend) {
    if b == Backend::Sqlite {
        use sqlx::Connection;
        let mut fresh = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .expect("fresh connection");
        let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut fresh)
            .await
            .expect("integrity_check");
        assert_eq!(verdict, "ok");
        let _ = fresh.close().await;
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn kills_lose_nothing(b: Backend) {
    if std::env::var_os(NODE_ENV).is_some() {
        return;
    }
    let kills = env_num("WAVEKEEP_SOAK_KILLS", 3);
    let jobs = env_num("WAVEKEEP_SOAK_JOBS", 300) as i64;
    let seed = env_num("WAVEKEEP_SOAK_SEED", rand::random::<u32>() as u64);
    eprintln!("soak ({b:?}): {kills} kills, {jobs} jobs, seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let app = TestApp::new(b).await;
    let data = app.state.settings.data_dir.clone();
    let scratch = tempfile::tempdir().expect("scratch");
    for ddl in [
        "CREATE TABLE soak_runs (job_id BIGINT NOT NULL, attempt BIGINT NOT NULL)",
        "CREATE TABLE soak_effects (job_id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
    ] {
        sqlx::query(ddl)
            .execute(app.state.db.pool())
            .await
            .expect("soak tables");
    }
    let cookie = app.register("soak@example.com").await;
    let key = api_key(&app, &cookie).await;
    let wav = std::fs::read(crate::audio::wav(0.5)).expect("wav");
    for n in 0..jobs {
        let job = app::jobs::db::NewJob::new("soak", n.to_string());
        app::jobs::db::enqueue_unbounded(&app.state.db, &job)
            .await
            .expect("enqueue");
    }

    let mut acked = Vec::<String>::new();
    for k in 0..kills {
        let mut node = Node::start(&app.database_url, &data, scratch.path()).await;
        let uploaders: Vec<_> = (0..2)
            .map(|i| {
                tokio::spawn(upload_until_dead(
                    node.base.clone(),
                    key.clone(),
                    wav.clone(),
                    i == 0,
                    seed ^ (k * 2 + i),
                ))
            })
            .collect();
        let after = Duration::from_millis(rng.random_range(300..1500));
        tokio::time::sleep(after).await;
        node.kill();
        for u in uploaders {
            acked.extend(u.await.expect("uploader"));
        }
        assert_all_stored(&app, &data, &acked).await;
        integrity_ok(&app, b).await;
    }

    // The last restart: everything finishes.
    let node = Node::start(&app.database_url, &data, scratch.path()).await;
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
                .fetch_one(app.state.db.pool())
                .await
                .expect("open jobs");
        if open == 0 {
            break;
        }
        assert!(Instant::now() < until, "{open} jobs still open after 90 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(node);
    assert_all_stored(&app, &data, &acked).await;
    integrity_ok(&app, b).await;

    let succeeded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'soak' AND state = 'succeeded'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("succeeded");
    assert_eq!(succeeded, jobs, "every soak job succeeded");
    let effects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM soak_effects")
        .fetch_one(app.state.db.pool())
        .await
        .expect("effects");
    assert_eq!(effects, jobs, "one effect per job");
    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'dead'")
        .fetch_one(app.state.db.pool())
        .await
        .expect("dead");
    assert_eq!(dead, 0, "no job died of a crash");
    let reruns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM soak_runs")
        .fetch_one(app.state.db.pool())
        .await
        .expect("runs");

    // No temporary file survives a sweep (nothing else writes here now).
    server::storage::sweep::sweep_older_than(
        &app.state,
        &app.state.storage,
        Duration::ZERO,
        Duration::ZERO,
    )
    .await
    .expect("sweep");
    assert_eq!(
        walk(&data.join("tmp")),
        0,
        "temporary files after the sweep"
    );
    eprintln!(
        "soak ({b:?}): {kills} kills, {jobs} jobs succeeded with one effect each ({} attempts run), {} uploads acknowledged and stored, 0 lost",
        reruns,
        acked.len()
    );
}

crate::both_backends!(kills_lose_nothing);
