//! Helpers shared by the benchmarks that drive the real binary over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
