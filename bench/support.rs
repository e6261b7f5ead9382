//! Helpers shared by the benchmarks that drive the real binary over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

pub fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

/// oha at `conns` connections for `secs`: (requests/s, p50 ms, p95 ms, p99 ms).
pub fn oha(oha: &Path, url: &str, conns: u32, secs: u64) -> Option<(f64, f64, f64, f64)> {
    let out = Command::new(oha)
        .args(["--no-tui", "--output-format", "json", "-c"])
        .arg(conns.to_string())
        .arg("-z")
        .arg(format!("{secs}s"))
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let ok = j["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    let total: u64 = j["statusCodeDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    if ok != total {
        println!(
            "  (non-200 answers for {url}: {})",
            j["statusCodeDistribution"]
        );
    }
    let p = |k: &str| j["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN) * 1000.0;
    Some((
        j["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p("p50"),
        p("p95"),
        p("p99"),
    ))
}

/// Starts the real `wavekeep serve` on a free loopback port over `data_dir`
/// (rate limits out of the way, logs quiet, plus `env`), waits until it
/// accepts connections, and returns it with its base URL.
pub fn serve(data_dir: &Path, env: &[(&str, String)]) -> (Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_wavekeep"))
        .arg("serve")
        .env("WAVEKEEP_ADDR", format!("127.0.0.1:{port}"))
        .env("WAVEKEEP_DATA_DIR", data_dir)
        .env("WAVEKEEP_LOG", "warn")
        .env("WAVEKEEP_API_RATE_PER_MINUTE", "100000000")
        .env("WAVEKEEP_API_RATE_BURST", "100000000")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wavekeep");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

/// A scratch PostgreSQL database for one benchmark run, dropped by `drop`:
/// created on the server of `WAVEKEEP_BENCH_PG_URL` (default: the local
/// test server), `None` when that server does not answer.
#[allow(dead_code, reason = "not every benchmark runs on PostgreSQL")]
pub struct ScratchPg {
    admin: sqlx::postgres::PgConnection,
    name: String,
    pub url: String,
}

#[allow(dead_code, reason = "not every benchmark runs on PostgreSQL")]
impl ScratchPg {
    pub async fn create(prefix: &str) -> Option<ScratchPg> {
        use sqlx::Connection;
        let admin_url = std::env::var("WAVEKEEP_BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let Ok(mut admin) = sqlx::postgres::PgConnection::connect(&admin_url).await else {
            println!("  postgres: not reachable at {admin_url}; skipped");
            return None;
        };
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create db");
        let url = match admin_url.rfind('/') {
            Some(i) => format!("{}/{name}", &admin_url[..i]),
            None => admin_url.clone(),
        };
        Some(ScratchPg { admin, name, url })
    }

    pub async fn drop(mut self) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await;
    }
}
