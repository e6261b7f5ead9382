//! Browse benchmark: a catalog of 100,000 tracks (synthetic rows) plus a few
//! hundred real files (uploaded and processed like any other), then
//!
//! * listing pages, server side: p50 / p95 / p99 uncached (the query) and
//!   cached (the moka page), over random orders and page depths;
//! * search p50 / p95 / p99 (random word prefixes);
//! * over HTTP against the real `wavekeep` binary (a separate process) with
//!   oha at 16 connections: track page SSR requests/s and latency, the cached
//!   listing (JSON) requests/s as a ratio to a bare axum "hello" route
//!   measured in the same run, and the server's RSS at the end;
//! * in headless Chromium (when Playwright is installed in end2end/): LCP
//!   and CLS of the list and track pages, and the time to render 1,000 rows.
//!
//!   cargo bench -p server --bench browse            (SQLite)
//!   WAVEKEEP_BENCH_PG_URL=postgres://… cargo bench -p server --bench browse
//!   WAVEKEEP_BENCH_TRACKS=100000 WAVEKEEP_BENCH_FILES=200 WAVEKEEP_BENCH_SECS=10

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support.rs"]
mod support;

use app::tracks::{ListQuery, Sort};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use support::{env_num, oha, which};

const WORDS: &[&str] = &[
    "amber",
    "autumn",
    "blue",
    "bright",
    "broken",
    "calm",
    "circle",
    "cloud",
    "cold",
    "crystal",
    "dance",
    "dawn",
    "deep",
    "desert",
    "dream",
    "drift",
    "dust",
    "echo",
    "electric",
    "ember",
    "falling",
    "fire",
    "forest",
    "frozen",
    "garden",
    "ghost",
    "glass",
    "gold",
    "gravity",
    "harbor",
    "heart",
    "hollow",
    "horizon",
    "island",
    "jade",
    "journey",
    "jungle",
    "lantern",
    "light",
    "lunar",
    "machine",
    "marble",
    "meadow",
    "midnight",
    "mirror",
    "mist",
    "moon",
    "morning",
    "neon",
    "night",
    "north",
    "ocean",
    "orbit",
    "paper",
    "pulse",
    "quiet",
    "rain",
    "red",
    "river",
    "road",
    "rust",
    "salt",
    "satellite",
    "shadow",
    "silver",
    "sky",
    "slow",
    "smoke",
    "snow",
    "solar",
    "south",
    "spark",
    "spring",
    "static",
    "steel",
    "stone",
    "storm",
    "summer",
    "sun",
    "thunder",
    "tide",
    "timber",
    "twilight",
    "union",
    "valley",
    "velvet",
    "violet",
    "wave",
    "west",
    "white",
    "wild",
    "willow",
    "winter",
    "wire",
    "wolf",
    "yellow",
    "zenith",
    "zero",
];
const TAGS: &[&str] = &[
    "rock", "jazz", "ambient", "demo", "live", "mix", "master", "drums", "vocal", "guitar",
    "synth", "piano", "lofi", "house", "techno", "folk", "soul", "funk", "draft", "final",
];

struct Stats {
    p50: f64,
    p95: f64,
    p99: f64,
    n: usize,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        n: ms.len(),
    }
}

fn line(what: &str, s: &Stats) {
    println!(
        "{what:<44} p50 {:>7.3} ms   p95 {:>7.3} ms   p99 {:>7.3} ms   (n={})",
        s.p50, s.p95, s.p99, s.n
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run().await;
        // The PostgreSQL database this run created goes with it.
        if let Ok(base) = std::env::var("WAVEKEEP_BENCH_PG_URL") {
            if !base.is_empty() {
                if let Ok(admin) = sqlx::AnyPool::connect(&base).await {
                    let name = format!("wk_bench_{}", std::process::id());
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                }
            }
        }
    });
}

async fn seed(state: &app::state::AppState, tracks: u64) -> i64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let db = &state.db;
    // 200 users; user 1 is the one whose "my tracks" we list.
    let mut tx = db.pool().begin().await.expect("tx");
    for u in 0..200 {
        sqlx::query("INSERT INTO users (email, password_hash, created_at) VALUES ($1, 'x', 0)")
            .bind(format!("bench{u}@example.com"))
            .execute(&mut *tx)
            .await
            .expect("user");
    }
    tx.commit().await.expect("commit");
    let first_user: i64 = sqlx::query_scalar("SELECT MIN(id) FROM users")
        .fetch_one(db.pool())
        .await
        .expect("user");
    let started = Instant::now();
    let batch = 500u64;
    let mut done = 0u64;
    while done < tracks {
        let n = batch.min(tracks - done);
        let mut sql = String::from(
            "INSERT INTO tracks (owner_id, slug, title, tags, visibility, duration_ms, created_at, updated_at) VALUES ",
        );
        let mut rows = Vec::new();
        for i in 0..n {
            let k = done + i;
            let title = format!(
                "{} {} {}",
                WORDS.choose(&mut rng).expect("w"),
                WORDS.choose(&mut rng).expect("w"),
                k % 977
            );
            let tags = format!(
                "{}, {}",
                TAGS.choose(&mut rng).expect("t"),
                TAGS.choose(&mut rng).expect("t")
            );
            let vis = match rng.random_range(0..10) {
                0 => "private",
                1 => "unlisted",
                _ => "public",
            };
            let owner = first_user + (k % 200) as i64;
            let dur = rng.random_range(20_000..600_000i64);
            let created = 1_700_000_000_000i64 + k as i64 * 1000;
            rows.push((owner, format!("bench-{k}"), title, tags, vis, dur, created));
        }
        for (i, _) in rows.iter().enumerate() {
            let b = i * 7;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 7
            ));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (owner, slug, title, tags, vis, dur, created) in rows {
            q = q
                .bind(owner)
                .bind(slug)
                .bind(title)
                .bind(tags)
                .bind(vis)
                .bind(dur)
                .bind(created);
        }
        q.execute(db.pool()).await.expect("insert batch");
        done += n;
    }
    // Fresh statistics for the planner (both backends know ANALYZE).
    sqlx::query("ANALYZE")
        .execute(db.pool())
        .await
        .expect("analyze");
    println!(
        "seeded {tracks} synthetic tracks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    first_user
}

/// Real files: distinct short MP3s made by ffmpeg, uploaded through the
/// ingest path and processed by the job queue. Returns their track ids.
async fn real_files(state: &server::ServerState, owner: i64, n: u64) -> Vec<i64> {
    let dir = std::env::temp_dir().join("wavekeep-bench-files");
    std::fs::create_dir_all(&dir).expect("dir");
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        let path = dir.join(format!("real-{i}.mp3"));
        if !path.exists() {
            let ok = Command::new("ffmpeg")
                .args([
                    "-nostdin",
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                ])
                .arg("-i")
                .arg(format!(
                    "sine=frequency={}:sample_rate=44100:duration=3",
                    200 + i * 3
                ))
                .args(["-c:a", "libmp3lame", "-b:a", "128k"])
                .arg(&path)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                println!("ffmpeg is not available: no real files");
                return ids;
            }
        }
        let tmp = state.storage.spool().tmp_path("upload");
        std::fs::copy(&path, &tmp).expect("copy");
        let incoming = server::uploads::Incoming {
            title: Some(format!("real {} {}", WORDS[i as usize % WORDS.len()], i)),
            filename: Some(format!("real-{i}.mp3")),
            tags: Some("real, bench".into()),
            visibility: Some(app::tracks::Visibility::Public),
            ..server::uploads::Incoming::new_track(owner)
        };
        let done = server::uploads::ingest::ingest(state, &tmp, &incoming, None, None)
            .await
            .expect("ingest");
        ids.push(done.track_id);
    }
    let worker = server::worker::Worker::new(
        state.clone(),
        server::worker::WorkerSettings::default(),
        state.queue.wake(),
        server::worker::all_jobs(&state.settings),
    );
    worker.drain().await;
    println!(
        "uploaded and processed {n} real files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ids
}

async fn time<F, Fut, T>(n: usize, mut f: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let _ = f(i).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stats(ms)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

async fn run() {
    let tracks = env_num("WAVEKEEP_BENCH_TRACKS", 100_000);
    let files = env_num("WAVEKEEP_BENCH_FILES", 200);
    let secs = env_num("WAVEKEEP_BENCH_SECS", 10);
    let dir = tempfile::tempdir().expect("tmp");
    sqlx::any::install_default_drivers();
    let (url, backend) = match std::env::var("WAVEKEEP_BENCH_PG_URL") {
        Ok(base) if !base.is_empty() => {
            let name = format!("wk_bench_{}", std::process::id());
            let admin = sqlx::AnyPool::connect(&base).await.expect("pg");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("create db");
            let (head, _) = base.rsplit_once('/').expect("url");
            (format!("{head}/{name}"), "postgres")
        }
        _ => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("wavekeep.db").display()
            ),
            "sqlite",
        ),
    };
    let settings = app::settings::Settings {
        data_dir: dir.path().to_path_buf(),
        media_exe: Some(env!("CARGO_BIN_EXE_wavekeep").into()),
        ..Default::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let state = server::build_state(settings, &url, addr)
        .await
        .expect("state");
    println!("== browse benchmark ({backend}, {tracks} tracks, {files} real files)");
    let owner = seed(&state, tracks).await;
    let real = real_files(&state, owner, files).await;

    // Cursors at random depths for each order, found by walking pages.
    let mut keys: Vec<(Option<i64>, ListQuery)> = Vec::new();
    for sort in Sort::ALL {
        for mine in [false, true] {
            let mut q = ListQuery {
                mine,
                sort,
                ..Default::default()
            };
            let owner = mine.then_some(owner);
            for _ in 0..40 {
                keys.push((owner, q.clone()));
                let page = app::tracks::db::list(&state.db, owner, &q)
                    .await
                    .expect("list");
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let picks: Vec<usize> = (0..2000).map(|_| rng.random_range(0..keys.len())).collect();
    let uncached = time(picks.len(), |i| {
        let (owner, q) = keys[picks[i]].clone();
        let db = state.db.clone();
        async move { app::tracks::db::list(&db, owner, &q).await.expect("list") }
    })
    .await;
    line("listing page, uncached (query + rows)", &uncached);
    for (owner, q) in &keys {
        let _ = app::tracks::api::list_cached(&state, *owner, q.clone()).await;
    }
    let cached = time(picks.len(), |i| {
        let (owner, q) = keys[picks[i]].clone();
        let state = state.clone();
        async move {
            app::tracks::api::list_cached(&state, owner, q)
                .await
                .expect("list")
        }
    })
    .await;
    line("listing page, cached", &cached);

    let queries: Vec<String> = (0..1000)
        .map(|_| {
            let w = WORDS.choose(&mut rng).expect("w");
            let cut = rng.random_range(2..=w.len().min(6));
            if rng.random_bool(0.3) {
                let t = TAGS.choose(&mut rng).expect("t");
                format!("{} {}", &w[..cut], &t[..3.min(t.len())])
            } else {
                w[..cut].to_string()
            }
        })
        .collect();
    let mut hits = 0usize;
    let search = time(queries.len(), |i| {
        let q = ListQuery {
            q: queries[i].clone(),
            ..Default::default()
        };
        let db = state.db.clone();
        async move { app::tracks::db::list(&db, None, &q).await.expect("search") }
    })
    .await;
    for q in queries.iter().take(50) {
        let page = app::tracks::db::list(
            &state.db,
            None,
            &ListQuery {
                q: q.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("search");
        hits += page.items.len();
    }
    line("search (random prefixes), uncached", &search);
    println!("  (first 50 searches returned {hits} rows in all)");

    // HTTP against the real binary, in its own process.
    let Some(oha_bin) = which("oha") else {
        println!("oha is not installed (cargo install oha): HTTP figures skipped");
        return;
    };
    let (mut child, base) = support::serve(dir.path(), &[("DATABASE_URL", url.clone())]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The bare baseline, in this process.
    let hello = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hello_url = format!("http://{}/", hello.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let _ = axum::serve(hello, app).await;
    });

    let track = real.first().copied().unwrap_or(1);
    let track_url = format!("{base}/tracks/{track}");
    let list_url = format!("{base}/api/v1/tracks");
    let _ = oha(&oha_bin, &track_url, 4, 1);
    let _ = oha(&oha_bin, &list_url, 4, 1);
    if let Some((rps, p50, p95, p99)) = oha(&oha_bin, &track_url, 16, secs) {
        println!("track page SSR, 16 connections (oha)         {rps:>9.0} req/s   p50 {p50:.2} ms   p95 {p95:.2} ms   p99 {p99:.2} ms");
    }
    let list = oha(&oha_bin, &list_url, 16, secs);
    let bare = oha(&oha_bin, &hello_url, 16, secs);
    if let (Some((lr, lp50, lp95, _)), Some((hr, _, hp95, _))) = (list, bare) {
        println!("cached listing JSON, 16 connections (oha)    {lr:>9.0} req/s   p50 {lp50:.2} ms   p95 {lp95:.2} ms");
        println!("bare axum hello, 16 connections (oha)        {hr:>9.0} req/s   p95 {hp95:.2} ms");
        println!("  ratio listing / hello: {:.2}", lr / hr);
    }
    let list_page = format!("{base}/");
    if let Some((rps, p50, p95, _)) = oha(&oha_bin, &list_page, 16, secs) {
        println!("list page SSR (cached list), 16 connections  {rps:>9.0} req/s   p50 {p50:.2} ms   p95 {p95:.2} ms");
    }

    // Headless Chromium, when the end-to-end tools are installed.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/browser/vitals.mjs");
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end");
    if e2e.join("node_modules/@playwright/test").exists() && Path::new("/usr/bin/chromium").exists()
    {
        let out = Command::new("node")
            .arg(&script)
            .arg(&base)
            .arg(track.to_string())
            .current_dir(&e2e)
            .output();
        match out {
            Ok(o) => print!("{}", String::from_utf8_lossy(&o.stdout)),
            Err(e) => println!("browser figures skipped: {e}"),
        }
    } else {
        println!("Playwright or Chromium missing: browser figures skipped");
    }

    match rss_mib(child.id()) {
        Some(m) => println!("server RSS at the end of the run: {m:.1} MiB"),
        None => println!("server RSS unknown"),
    }
    let _ = child.kill();
    let _ = child.wait();
}
