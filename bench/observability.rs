//! Observability benchmark: what per-route instrumentation costs. The real
//! `wavekeep` binary serves a catalog of public tracks twice per round, once
//! with `WAVEKEEP_INSTRUMENTATION=true` and once with `false` (the order
//! alternates between rounds), and oha measures requests/s of the track
//! list (JSON, and the server-rendered list page) at 16 connections. The
//! figure is the median over the rounds and the cost is `1 - on / off`.
//!
//!   cargo bench -p server --bench observability
//!   WAVEKEEP_BENCH_TRACKS=10000 WAVEKEEP_BENCH_SECS=8 WAVEKEEP_BENCH_ROUNDS=3

#[path = "support.rs"]
mod support;

use std::path::Path;

use support::{env_num, oha, which};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn seed(dir: &Path, tracks: u64) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("wavekeep.db").display());
    let settings = app::settings::Settings {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    let state = server::build_state(settings, &url, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("state");
    let db = &state.db;
    sqlx::query(
        "INSERT INTO users (email, password_hash, created_at) VALUES ('bench@example.com', 'x', 0)",
    )
    .execute(db.pool())
    .await
    .expect("user");
    let owner: i64 = sqlx::query_scalar("SELECT MIN(id) FROM users")
        .fetch_one(db.pool())
        .await
        .expect("owner");
    let mut tx = db.pool().begin().await.expect("tx");
    for k in 0..tracks {
        sqlx::query(
            "INSERT INTO tracks (owner_id, slug, title, tags, visibility, duration_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, 'bench, tone', 'public', $4, $5, $5)",
        )
        .bind(owner)
        .bind(format!("bench-{k}"))
        .bind(format!("Bench track {k}"))
        .bind(30_000 + (k as i64 % 600) * 1_000)
        .bind(1_700_000_000_000i64 + k as i64 * 1_000)
        .execute(&mut *tx)
        .await
        .expect("track");
    }
    tx.commit().await.expect("commit");
    db.close().await;
}

fn main() {
    let tracks = env_num("WAVEKEEP_BENCH_TRACKS", 10_000);
    let secs = env_num("WAVEKEEP_BENCH_SECS", 8);
    let rounds = env_num("WAVEKEEP_BENCH_ROUNDS", 3).max(1);
    let Some(oha_bin) = which("oha") else {
        println!("oha is not installed (cargo install oha): nothing measured");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(seed(dir.path(), tracks));
    println!(
        "{tracks} public tracks, oha 16 connections, {secs} s per measurement, {rounds} rounds"
    );

    let paths = [
        ("track list JSON (/api/v1/tracks)", "/api/v1/tracks"),
        ("track list page SSR (/)", "/"),
    ];
    // results[path][mode] = requests/s per round; mode 0 = on, 1 = off.
    let mut rps = vec![[Vec::new(), Vec::new()]; paths.len()];
    let mut p95 = vec![[Vec::new(), Vec::new()]; paths.len()];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for instrumented in order {
            let (mut child, base) = support::serve(
                dir.path(),
                &[("WAVEKEEP_INSTRUMENTATION", instrumented.to_string())],
            );
            let mode = usize::from(!instrumented);
            for (i, (_, path)) in paths.iter().enumerate() {
                let url = format!("{base}{path}");
                let _ = oha(&oha_bin, &url, 16, 1);
                if let Some((r, _, p, _)) = oha(&oha_bin, &url, 16, secs) {
                    rps[i][mode].push(r);
                    p95[i][mode].push(p);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    for (i, (name, _)) in paths.iter().enumerate() {
        if rps[i][0].is_empty() || rps[i][1].is_empty() {
            println!("{name}: not measured");
            continue;
        }
        let on = median(rps[i][0].clone());
        let off = median(rps[i][1].clone());
        println!("{name}");
        println!(
            "  instrumentation on   {on:>9.0} req/s   p95 {:.2} ms   (rounds: {:?})",
            median(p95[i][0].clone()),
            rps[i][0].iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        println!(
            "  instrumentation off  {off:>9.0} req/s   p95 {:.2} ms   (rounds: {:?})",
            median(p95[i][1].clone()),
            rps[i][1].iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        println!(
            "  cost of instrumentation: {:.1} %",
            (1.0 - on / off) * 100.0
        );
    }
}
