//! Transcription benchmark: seed 002's load, "10 users each creating 100
//! transcriptions (1,000 total)", through the real `wavekeep` binary (its
//! own process) against the suite's fake provider (OpenAI's protocol on
//! loopback, a fixed answer time). Every upload asks for a transcript
//! through the machine API; the limits are the provider's, for the whole
//! deployment.
//!
//! Printed:
//! * wall time from the first request the provider saw to the last
//!   transcript stored, against the ideal schedule under the same limits
//!   (request `i` starts at `max(start[i-concurrency] + answer time,
//!   start[i-rate] + window)`), as a ratio (goal: within 3 %);
//! * what the provider saw: requests per transcript (1: nothing sent
//!   twice), most in flight at once, most started in any 60 s window,
//!   transcripts lost or with the wrong words (0);
//! * listing latency (p50 / p95 over HTTP) while only transcriptions run
//!   (the uploads' own metadata and waveform jobs done), against the same
//!   requests once the queue is idle (goal: p95 at most 1.2×), and over the
//!   whole run;
//! * the server's resident memory at the start, its peak and the end;
//! * the seed's own settings (5 at once, 30 a minute) computed by the same
//!   ideal schedule: the floor for 1,000 transcriptions, against the seed's
//!   "40–50 minutes" estimate.
//!
//!   cargo bench -p server --bench transcribe                (SQLite)
//!   WAVEKEEP_BENCH_PG_URL=postgres://…/test cargo bench -p server --bench transcribe
//!   WAVEKEEP_BENCH_USERS=10 WAVEKEEP_BENCH_PER_USER=100 WAVEKEEP_BENCH_RATE=600
//!   WAVEKEEP_BENCH_CONCURRENCY=5 WAVEKEEP_BENCH_LATENCY_MS=250

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support.rs"]
#[allow(dead_code, reason = "the load generators are for other benches")]
mod support;

#[path = "../server/tests/support/ffmpeg.rs"]
#[allow(dead_code, reason = "only the speech maker is used here")]
mod ffmpeg;

#[path = "../server/tests/support/fake_stt/mod.rs"]
mod fake_stt;

use fake_stt::{FakeStt, Options, WORDS};
use sqlx::Connection;
use support::env_num;

/// Different "speech" files: each says three words, one second apart.
const BASES: usize = 10;

/// When request `i` may start at the earliest and when the last one ends,
/// in seconds, for `n` requests of `answer` seconds each, at most
/// `concurrency` at once and `rate` started in any `window` seconds.
fn ideal(n: usize, concurrency: usize, rate: usize, window: f64, answer: f64) -> f64 {
    let mut start = vec![0.0f64; n];
    for i in 0..n {
        let mut t = 0.0f64;
        if i >= concurrency {
            t = t.max(start[i - concurrency] + answer);
        }
        if i >= rate {
            t = t.max(start[i - rate] + window);
        }
        start[i] = t;
    }
    start.last().copied().unwrap_or(0.0) + answer
}

/// An ID3v2.3 tag holding `title`: prepended to an MP3, it makes another
/// file (another content address) with the same audio.
fn id3_title(title: &str) -> Vec<u8> {
    let mut frame = vec![0u8]; // ISO-8859-1 text
    frame.extend_from_slice(title.as_bytes());
    let mut body = b"TIT2".to_vec();
    body.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&frame);
    let size = body.len() as u32;
    let syncsafe = [
        ((size >> 21) & 0x7f) as u8,
        ((size >> 14) & 0x7f) as u8,
        ((size >> 7) & 0x7f) as u8,
        (size & 0x7f) as u8,
    ];
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe);
    tag.extend_from_slice(&body);
    tag
}

/// The base files and the words each says.
fn bases(dir: &Path) -> Vec<(Vec<u8>, Vec<&'static str>)> {
    (0..BASES)
        .map(|k| {
            let words: Vec<&str> = (0..3)
                // Not the lowest pitch ("alpha", 400 Hz): after the re-encoding
                // for speech-to-text the fake's zero-crossing ear can take it
                // for the next one up.
                .map(|j| WORDS[1 + (k * 3 + j * 5) % (WORDS.len() - 1)])
                .collect();
            let tones: Vec<(f64, f64, u32)> = words
                .iter()
                .enumerate()
                .map(|(j, w)| (0.3 + j as f64, 0.5, fake_stt::hz_of(w)))
                .collect();
            let path = dir.join(format!("speech-{k}.mp3"));
            ffmpeg::spoken(&path, 3.5, &tones, &["-c:a", "libmp3lame", "-b:a", "64k"]);
            (std::fs::read(&path).expect("read"), words)
        })
        .collect()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Listing requests (varied sort and search) until `stop`: when each was
/// sent and how long it took (ms).
async fn listings(
    client: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, f64, bool)> {
    let queries = [
        "sort=newest",
        "sort=title",
        "sort=duration",
        "sort=newest&q=speech",
        "sort=title&q=u3",
        "sort=newest&per=200",
    ];
    let mut times = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let url = format!("{base}/api/v1/tracks?{}", queries[i % queries.len()]);
        i += 1;
        let t = Instant::now();
        match client.get(&url).send().await {
            Ok(res) if res.status().is_success() => {
                let _ = res.bytes().await;
                let search = url.contains("q=");
                times.push((t, t.elapsed().as_secs_f64() * 1000.0, search));
            }
            Ok(res) => eprintln!("listing: {}", res.status()),
            Err(e) => eprintln!("listing: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    times
}

/// The latencies of `samples` (searches or plain listings) sent within
/// `[from, to)`, sorted.
fn window(samples: &[(Instant, f64, bool)], search: bool, from: Instant, to: Instant) -> Vec<f64> {
    let mut v: Vec<f64> = samples
        .iter()
        .filter(|(at, _, s)| *s == search && *at >= from && *at < to)
        .map(|(_, ms, _)| *ms)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

async fn run(name: &str, database_url: Option<String>) {
    let users = env_num("WAVEKEEP_BENCH_USERS", 10) as usize;
    let per_user = env_num("WAVEKEEP_BENCH_PER_USER", 100) as usize;
    let rate = env_num("WAVEKEEP_BENCH_RATE", 600) as usize;
    let concurrency = env_num("WAVEKEEP_BENCH_CONCURRENCY", 5) as usize;
    let latency = Duration::from_millis(env_num("WAVEKEEP_BENCH_LATENCY_MS", 250));
    let total = users * per_user;

    let dir = tempfile::tempdir().expect("dir");
    let files = bases(dir.path());
    let fake = FakeStt::start(Options {
        latency,
        ..Options::default()
    })
    .await;
    let data = dir.path().join("data");
    let db_url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("wavekeep.db").display()));
    let mut env = vec![
        ("WAVEKEEP_STT_URL", fake.url.clone()),
        ("WAVEKEEP_STT_CONCURRENCY", concurrency.to_string()),
        ("WAVEKEEP_STT_RATE_PER_MINUTE", rate.to_string()),
        ("WAVEKEEP_REGISTER_PER_HOUR", "100000".to_string()),
        ("WAVEKEEP_QUEUE_MAX_DEPTH", "1000000".to_string()),
    ];
    if let Some(url) = &database_url {
        env.push(("DATABASE_URL", url.clone()));
    }
    let (mut child, base) = support::serve(&data, &env);
    let pid = child.id();

    // Ten users, each with an API key.
    let mut keys = Vec::new();
    for u in 0..users {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let res = client
            .post(format!("{base}/api/register"))
            .form(&[
                ("email", format!("user{u}@bench.example.com")),
                ("password", "a long bench password".to_string()),
            ])
            .send()
            .await
            .expect("register");
        assert!(res.status().is_success(), "register: {}", res.status());
        let res = client
            .post(format!("{base}/api/v1/api-keys"))
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await
            .expect("key");
        assert!(res.status().is_success(), "api key: {}", res.status());
        let v: serde_json::Value = res.json().await.expect("key json");
        keys.push(v["secret"].as_str().expect("secret").to_string());
    }

    let rss_start = rss_kib(pid);
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let busy_listing = tokio::spawn(listings(client.clone(), base.clone(), stop.clone()));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_start));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // Every user uploads their files at once (four requests in flight each).
    let t_upload = Instant::now();
    let mut tasks = Vec::new();
    for (u, key) in keys.iter().enumerate() {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let files = files.clone();
        tasks.push(tokio::spawn(async move {
            let mut expected = HashMap::new();
            let chunks: Vec<Vec<usize>> = (0..4)
                .map(|lane| (lane..per_user).step_by(4).collect())
                .collect();
            let mut lanes = Vec::new();
            for lane in chunks {
                let (client, base, key, files) =
                    (client.clone(), base.clone(), key.clone(), files.clone());
                lanes.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    for i in lane {
                        let k = (u + i) % BASES;
                        let title = format!("u{u} speech {i}");
                        let mut bytes = id3_title(&title);
                        bytes.extend_from_slice(&files[k].0);
                        let form = reqwest::multipart::Form::new()
                            .text("title", title.clone())
                            .text("visibility", "public")
                            .text("transcribe", "true")
                            .part(
                                "audio",
                                reqwest::multipart::Part::bytes(bytes).file_name("speech.mp3"),
                            );
                        let res = client
                            .post(format!("{base}/api/v1/tracks"))
                            .bearer_auth(&key)
                            .multipart(form)
                            .send()
                            .await
                            .expect("upload");
                        assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
                        let v: serde_json::Value = res.json().await.expect("json");
                        out.push((v["id"].as_i64().expect("id"), k));
                    }
                    out
                }));
            }
            for lane in lanes {
                for (id, k) in lane.await.expect("lane") {
                    expected.insert(id, k);
                }
            }
            expected
        }));
    }
    let mut expected: HashMap<i64, usize> = HashMap::new();
    for t in tasks {
        expected.extend(t.await.expect("uploads"));
    }
    let upload_secs = t_upload.elapsed().as_secs_f64();
    assert_eq!(expected.len(), total);

    // Wait for every transcript to be stored (done or failed).
    let mut db = sqlx::AnyConnection::connect(&db_url).await.expect("db");
    let limit = Instant::now()
        + Duration::from_secs_f64(ideal(total, concurrency, rate, 60.25, 0.25) * 3.0 + 120.0);
    // When the uploads' own jobs (metadata, waveform) are done, only the
    // transcriptions remain: the window in which listings are compared.
    let mut media_done: Option<Instant> = None;
    loop {
        if media_done.is_none() {
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind <> 'transcribe' AND state IN ('queued', 'running')",
            )
            .fetch_one(&mut db)
            .await
            .unwrap_or(1);
            if open == 0 {
                media_done = Some(Instant::now());
            }
        }
        let settled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transcripts WHERE status IN ('done', 'failed')",
        )
        .fetch_one(&mut db)
        .await
        .unwrap_or(0);
        if settled as usize >= total {
            break;
        }
        assert!(
            Instant::now() < limit,
            "{settled} of {total} transcripts after the time limit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let run_end = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let busy_all = busy_listing.await.expect("listing");
    let transcribing = media_done.unwrap_or(run_end);
    let whole = window(&busy_all, false, t_upload, run_end);
    let busy = window(&busy_all, false, transcribing, run_end);
    let busy_search = window(&busy_all, true, transcribing, run_end);
    let _ = sampler.await;
    let rss_peak = peak.load(Ordering::Relaxed);

    // What was stored: every track's transcript says its file's words.
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT v.track_id, t.status, COALESCE(t.text, ''), COALESCE(t.finished_at, 0) \
         FROM transcripts t JOIN track_versions v ON v.asset_id = t.asset_id",
    )
    .fetch_all(&mut db)
    .await
    .expect("transcripts");
    let mut lost = total;
    let mut wrong = 0;
    let mut first_wrong = None;
    let mut last_finished = 0i64;
    for (track, status, text, finished) in &rows {
        let Some(k) = expected.get(track) else {
            continue;
        };
        last_finished = last_finished.max(*finished);
        if status == "done" {
            lost -= 1;
            let said = files[*k].1.join(" ");
            if !text.to_lowercase().contains(&said) {
                wrong += 1;
                first_wrong.get_or_insert_with(|| format!("{said:?} heard as {text:?}"));
            }
        }
    }
    let arrivals = fake.arrivals();
    let first_ms = arrivals.iter().map(|a| a.unix_ms).min().unwrap_or(0) as i64;
    let wall = (last_finished - first_ms) as f64 / 1000.0;
    let best = ideal(total, concurrency, rate, 60.0 + 0.25, latency.as_secs_f64());

    // The same listings, idle.
    let stop_idle = Arc::new(AtomicBool::new(false));
    let idle_task = tokio::spawn(listings(client.clone(), base.clone(), stop_idle.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop_idle.store(true, Ordering::Relaxed);
    let idle_all = idle_task.await.expect("idle listing");
    let idle = window(&idle_all, false, run_end, Instant::now());
    let idle_search = window(&idle_all, true, run_end, Instant::now());
    let rss_end = rss_kib(pid);

    println!(
        "{name:>9}: {total} transcriptions ({users} users x {per_user}), at most {concurrency} at once and {rate}/min, {} ms per answer",
        latency.as_millis()
    );
    println!(
        "           uploads took {upload_secs:.1} s; wall {wall:.1} s from the first request to the last transcript vs ideal {best:.1} s: {:.3}x",
        wall / best
    );
    println!(
        "           provider saw {} requests for {} transcripts ({:.3} per transcript), max in flight {}, max started in any 60 s {}; lost {lost}, wrong text {wrong}",
        arrivals.len(),
        rows.len(),
        arrivals.len() as f64 / rows.len().max(1) as f64,
        fake.max_in_flight(),
        fake.max_per_window(Duration::from_secs(60)),
    );
    if let Some(w) = first_wrong {
        println!("           e.g. {w}");
    }
    println!(
        "           listing (no search) p50/p95 {:.2}/{:.2} ms while only transcriptions ran ({} requests over {:.0} s) vs {:.2}/{:.2} ms idle: p95 {:.2}x",
        pct(&busy, 0.5),
        pct(&busy, 0.95),
        busy.len(),
        run_end
            .duration_since(media_done.unwrap_or(run_end))
            .as_secs_f64(),
        pct(&idle, 0.5),
        pct(&idle, 0.95),
        pct(&busy, 0.95) / pct(&idle, 0.95)
    );
    println!(
        "           search p50/p95 {:.2}/{:.2} ms while transcribing vs {:.2}/{:.2} ms idle (each transcript stored changes search results: uncached)",
        pct(&busy_search, 0.5),
        pct(&busy_search, 0.95),
        pct(&idle_search, 0.5),
        pct(&idle_search, 0.95),
    );
    println!(
        "           (listing over the whole run, uploads and their media jobs included: p50/p95 {:.2}/{:.2} ms over {} requests)",
        pct(&whole, 0.5),
        pct(&whole, 0.95),
        whole.len()
    );
    println!(
        "           server RSS {:.0} MiB at start, peak {:.0} MiB, {:.0} MiB at the end",
        rss_start as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(fake);
}

fn main() {
    // The seed's settings, as a schedule: the floor for its load.
    let seed = ideal(1000, 5, 30, 60.25, 10.0);
    println!(
        "seed 002's settings (5 at once, 30/min, 1,000 transcriptions of up to 10 s each): ideal {:.1} min (the seed estimated 40-50 min)",
        seed / 60.0
    );
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run("sqlite", None).await;
        let Some(pg) = support::ScratchPg::create("wk_bench_stt").await else {
            return;
        };
        run("postgres", Some(pg.url.clone())).await;
        pg.drop().await;
    });
}
