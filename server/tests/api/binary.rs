//! The `wavekeep` binary itself: CLI subcommands, and a copy of the binary
//! alone in an empty directory serving its embedded site, then stopping
//! cleanly on SIGTERM.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_wavekeep");

fn wavekeep(dir: &Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().env("WAVEKEEP_LOG", "warn");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(res) = reqwest::get(format!("{base}/readyz")).await {
            if res.status() == reqwest::StatusCode::OK {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "server at {base} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn help_lists_the_subcommands() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "create-admin",
        "api-key",
        "WAVEKEEP_ADDR",
        "WAVEKEEP_DATA_DIR",
        "DATABASE_URL",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

async fn cli_creates_an_admin_and_a_key(b: Backend) {
    let app = TestApp::new(b).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = app.database_url.clone();

    let mut child = wavekeep(dir.path(), Some(&url))
        .args(["create-admin", "--email", "boss@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let weak = wavekeep(dir.path(), Some(&url))
        .args(["create-admin", "--email", "weak@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(b"short\n")?;
            c.wait_with_output()
        })
        .expect("run");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10"));

    let out = wavekeep(dir.path(), Some(&url))
        .args([
            "api-key",
            "create",
            "--email",
            "boss@example.com",
            "--name",
            "cli",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("wk_"), "{key}");

    let server = app.spawn().await;
    let res = reqwest::Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("me");
    let me: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        (me["email"].as_str(), me["role"].as_str()),
        (Some("boss@example.com"), Some("Admin"))
    );
    server.stop().await;

    let out = wavekeep(dir.path(), Some(&url))
        .args(["migrate", "--revert-to", "0"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!app.state.db.is_ready().await);
    let out = wavekeep(dir.path(), Some(&url))
        .arg("migrate")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(app.state.db.is_ready().await);
}

crate::both_backends!(cli_creates_an_admin_and_a_key);

/// Kills the child process if the test ends early (a failed assertion), so
/// no server outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The binary copied alone into an empty directory serves pages and /pkg assets
/// with embedded SQLite, and exits 0 on SIGTERM.
#[tokio::test]
async fn the_binary_alone_serves_the_site() {
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("wavekeep");
    std::fs::copy(BIN, &copy).expect("copy binary");
    let port = free_port();
    let mut child = KillOnDrop(
        Command::new(&copy)
            .current_dir(dir.path())
            .env_clear()
            .env("WAVEKEEP_ADDR", format!("127.0.0.1:{port}"))
            .env("WAVEKEEP_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    let page = reqwest::get(format!("{base}/")).await.expect("page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page
        .text()
        .await
        .expect("text")
        .contains("/pkg/wavekeep.js"));
    for asset in [
        "/pkg/wavekeep.wasm",
        "/pkg/wavekeep.js",
        "/pkg/wavekeep.css",
        "/favicon.svg",
    ] {
        let res = reqwest::get(format!("{base}{asset}")).await.expect("asset");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{asset}");
        assert!(!res.bytes().await.expect("bytes").is_empty(), "{asset}");
    }
    assert!(
        dir.path().join("data/wavekeep.db").exists(),
        "SQLite lives in ./data by default"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = child.0.try_wait().expect("wait") {
            assert!(code.success(), "exit after SIGTERM: {code}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The real binary serving on a free loopback port from a data directory of
/// its own (embedded SQLite), for tests that measure the process itself.
pub struct Server {
    pub base: String,
    pub addr: String,
    child: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts it with `env` on top of a cleared environment.
    pub async fn start(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = wavekeep(dir.path(), None);
        cmd.env("WAVEKEEP_ADDR", &addr).stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = KillOnDrop(cmd.spawn().expect("spawn"));
        let base = format!("http://{addr}");
        wait_ready(&base).await;
        Server {
            base,
            addr,
            child,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// SIGTERM, then waits (at most 10 s) for a clean exit.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(code) = self.child.0.try_wait().expect("wait") {
                assert!(code.success(), "exit after SIGTERM: {code}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
