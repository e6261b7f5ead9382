//! Audio decoding in a sandbox: symphonia has known panics, endless loops and
//! huge allocations on crafted input, so it never runs inside the server
//! process. Each decode runs in a `wavekeep media-worker` child process; the
//! server talks to it over stdin/stdout (one JSON line per request, progress
//! lines, one JSON result line), kills it when a request overruns its time
//! budget, and starts a fresh one after any crash. Idle children are kept
//! for the next request, so a file costs no process start.
//!
//! What a child gets is as little as it needs (see `confine`): an empty
//! environment (no `DATABASE_URL`, no secrets), an address-space limit, a
//! CPU-time limit per request (past it the kernel kills it), no core dumps,
//! and a seccomp filter that refuses new programs and processes, sockets,
//! and signals to anyone but itself. A decode that runs out of time is the
//! file's fault and is not retried.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::analyze::{self, MediaError};

mod child;

pub use child::child_main;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Probe {
        path: PathBuf,
        budget_ms: u64,
    },
    Waveform {
        path: PathBuf,
        fine_spp: u32,
        overview_points: u32,
        budget_ms: u64,
    },
    /// A constant-bitrate MP3 of the file, written to `out`.
    Preview {
        path: PathBuf,
        out: PathBuf,
        budget_ms: u64,
    },
    /// The file made small for speech-to-text and cut into chunks
    /// (`out_dir/chunk-NNNN.mp3`), at `cuts` (ms) when given.
    Speech {
        path: PathBuf,
        out_dir: PathBuf,
        max_chunk_ms: u64,
        cuts: Option<Vec<i64>>,
        budget_ms: u64,
    },
    /// Every entry point on the file with the panic guards off, each with
    /// the budget (`analyze::exercise`): the fuzzed-input regression tests.
    Exercise {
        path: PathBuf,
        out_dir: PathBuf,
        budget_ms: u64,
    },
    /// The file's own tags, and its cover art written to `art_out`.
    Tags {
        path: PathBuf,
        art_out: PathBuf,
        budget_ms: u64,
    },
    /// WebP thumbnails of the image at `src`, written into `out_dir`
    /// (`analyze::thumb_path`).
    Artwork {
        src: PathBuf,
        out_dir: PathBuf,
        budget_ms: u64,
    },
    /// What the child is allowed (for the start-up check and the tests).
    Report,
}

/// The confinement a media worker runs under, as it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// Environment variables it can read.
    pub env_vars: usize,
    /// Whether starting another program failed.
    pub spawn_refused: bool,
    /// Whether opening a network socket failed.
    pub socket_refused: bool,
    /// Its CPU-time limit (soft), in seconds, when one is set.
    pub cpu_limit_secs: Option<u64>,
    /// Its address-space limit, in bytes, when one is set.
    pub memory_limit_bytes: Option<u64>,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
}

pub use super::analyze::AudioInfo as Info;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Progress(u8),
    Info(Info),
    /// audiowaveform JSON: the overview and the finer zoom level.
    Peaks {
        overview: String,
        fine: String,
    },
    /// The preview was written: its size.
    Written(u64),
    Report(Confinement),
    /// The speech chunks written: each one's (start, end) in ms.
    Chunks(Vec<(i64, i64)>),
    /// `Exercise` came through (whatever the file's verdicts were).
    Exercised,
    Tags {
        tags: app::media::FileTags,
        art: Option<app::media::EmbeddedArt>,
    },
    Art {
        width: u32,
        height: u32,
        thumbs: Vec<app::media::Thumb>,
    },
    Failed {
        kind: FailKind,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailKind {
    /// The file is not audio we read, or is damaged: retrying will not help.
    Unreadable,
    TimedOut,
    Io,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Unreadable(String),
    #[error("{0}")]
    TimedOut(String),
    #[error("the decoder crashed on this file ({0}); the file is probably damaged")]
    Crashed(String),
    #[error("{0}")]
    Io(String),
}

impl SandboxError {
    /// Errors a retry cannot fix (the file itself is the problem): a file
    /// that makes the decoder fail, crash, or overrun its time (budgets are
    /// generous multiples of real time) does the same the next time.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SandboxError::Unreadable(_) | SandboxError::Crashed(_) | SandboxError::TimedOut(_)
        )
    }
}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A pool of media worker processes.
pub struct MediaPool {
    exe: PathBuf,
    memory_mb: u64,
    idle: Mutex<Vec<Proc>>,
    max_idle: usize,
}

impl MediaPool {
    pub fn new(exe: PathBuf, memory_mb: u64, max_idle: usize) -> Self {
        MediaPool {
            exe,
            memory_mb,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn spawn(&self) -> Result<Proc, SandboxError> {
        let mut child = Command::new(&self.exe)
            .arg("media-worker")
            .arg(self.memory_mb.to_string())
            // Nothing of the server's environment (database URL, keys).
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                SandboxError::Io(format!(
                    "could not start the media worker {}: {e}",
                    self.exe.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SandboxError::Io("the media worker has no pipes".into()));
        };
        Ok(Proc {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    fn take(&self) -> Result<Proc, SandboxError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(p) => Ok(p),
            None => self.spawn(),
        }
    }

    fn give_back(&self, p: Proc) {
        if let Ok(mut v) = self.idle.lock() {
            if v.len() < self.max_idle {
                v.push(p);
            }
        }
    }

    pub async fn probe(&self, path: &Path, budget: Duration) -> Result<Info, SandboxError> {
        let req = Request::Probe {
            path: path.to_path_buf(),
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, &mut |_| {}).await? {
            Line::Info(i) => Ok(i),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// Peaks (overview, fine) as audiowaveform JSON.
    pub async fn waveform(
        &self,
        path: &Path,
        fine_spp: u32,
        overview_points: u32,
        budget: Duration,
        progress: &mut (dyn FnMut(u8) + Send),
    ) -> Result<(String, String), SandboxError> {
        let req = Request::Waveform {
            path: path.to_path_buf(),
            fine_spp,
            overview_points,
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, progress).await? {
            Line::Peaks { overview, fine } => Ok((overview, fine)),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// Writes the speech chunks of `path` into `out_dir`; each one's span.
    pub async fn speech(
        &self,
        path: &Path,
        out_dir: &Path,
        max_chunk_ms: u64,
        cuts: Option<Vec<i64>>,
        budget: Duration,
        progress: &mut (dyn FnMut(u8) + Send),
    ) -> Result<Vec<(i64, i64)>, SandboxError> {
        let req = Request::Speech {
            path: path.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            max_chunk_ms,
            cuts,
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, progress).await? {
            Line::Chunks(spans) => Ok(spans),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// The tags of `path`, and whether its cover art was written to `art_out`.
    pub async fn tags(
        &self,
        path: &Path,
        art_out: &Path,
        budget: Duration,
    ) -> Result<(app::media::FileTags, Option<app::media::EmbeddedArt>), SandboxError> {
        let req = Request::Tags {
            path: path.to_path_buf(),
            art_out: art_out.to_path_buf(),
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, &mut |_| {}).await? {
            Line::Tags { tags, art } => Ok((tags, art)),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// Thumbnails of the image `src` written into `out_dir`: the image's
    /// width and height, and each thumbnail.
    pub async fn artwork(
        &self,
        src: &Path,
        out_dir: &Path,
        budget: Duration,
    ) -> Result<(u32, u32, Vec<app::media::Thumb>), SandboxError> {
        let req = Request::Artwork {
            src: src.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, &mut |_| {}).await? {
            Line::Art {
                width,
                height,
                thumbs,
            } => Ok((width, height, thumbs)),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// How a media worker is confined, as it reports it.
    pub async fn report(&self) -> Result<Confinement, SandboxError> {
        match self
            .call(&Request::Report, Duration::from_secs(10), &mut |_| {})
            .await?
        {
            Line::Report(r) => Ok(r),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// Logs, once at start-up, any confinement this machine could not give.
    pub async fn check(&self) {
        match self.report().await {
            Ok(c) if c.seccomp && c.spawn_refused && c.env_vars == 0 => {
                tracing::info!(?c, "media workers are confined");
            }
            Ok(c) => tracing::warn!(
                ?c,
                "media workers run with less confinement than intended on this system"
            ),
            Err(e) => tracing::error!(error = %e, "media workers cannot start"),
        }
    }

    /// Writes an MP3 preview of `path` to `out`; returns its size.
    pub async fn preview(
        &self,
        path: &Path,
        out: &Path,
        budget: Duration,
        progress: &mut (dyn FnMut(u8) + Send),
    ) -> Result<u64, SandboxError> {
        let req = Request::Preview {
            path: path.to_path_buf(),
            out: out.to_path_buf(),
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget, progress).await? {
            Line::Written(n) => Ok(n),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    /// Runs every entry point on `path` unguarded (`Request::Exercise`):
    /// `Ok` unless the decoder crashed, hung past four budgets, or ran out
    /// of its memory.
    pub async fn exercise(
        &self,
        path: &Path,
        out_dir: &Path,
        budget: Duration,
    ) -> Result<(), SandboxError> {
        let req = Request::Exercise {
            path: path.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            budget_ms: budget.as_millis() as u64,
        };
        match self.call(&req, budget * 4, &mut |_| {}).await? {
            Line::Exercised => Ok(()),
            _ => Err(SandboxError::Io(
                "the media worker answered out of turn".into(),
            )),
        }
    }

    async fn call(
        &self,
        req: &Request,
        budget: Duration,
        progress: &mut (dyn FnMut(u8) + Send),
    ) -> Result<Line, SandboxError> {
        let mut line = serde_json::to_string(req).map_err(|e| SandboxError::Io(e.to_string()))?;
        line.push('\n');
        // A reused child may have died while idle: one fresh try.
        let mut proc = self.take()?;
        if proc.stdin.write_all(line.as_bytes()).await.is_err() {
            proc = self.spawn()?;
            proc.stdin.write_all(line.as_bytes()).await.map_err(|e| {
                SandboxError::Io(format!("the media worker did not take the request: {e}"))
            })?;
        }
        let _ = proc.stdin.flush().await;
        // The child enforces the budget itself; this is the hard stop when it cannot.
        let deadline = tokio::time::Instant::now() + budget + Duration::from_secs(2);
        let mut buf = String::new();
        loop {
            buf.clear();
            let read = tokio::time::timeout_at(deadline, proc.stdout.read_line(&mut buf)).await;
            match read {
                Err(_) => {
                    let _ = proc.child.start_kill();
                    return Err(SandboxError::TimedOut(format!(
                        "decoding took longer than {} s; the file is probably damaged",
                        budget.as_secs().max(1)
                    )));
                }
                Ok(Ok(0)) | Ok(Err(_)) => {
                    let status =
                        tokio::time::timeout(Duration::from_secs(2), proc.child.wait()).await;
                    let why = match status {
                        Ok(Ok(s)) => describe_exit(s),
                        _ => "no answer".into(),
                    };
                    return Err(SandboxError::Crashed(why));
                }
                Ok(Ok(_)) => {}
            }
            match serde_json::from_str::<Line>(buf.trim_end()) {
                Ok(Line::Progress(p)) => progress(p),
                Ok(Line::Failed { kind, message }) => {
                    self.give_back(proc);
                    return Err(match kind {
                        FailKind::Unreadable => SandboxError::Unreadable(message),
                        FailKind::TimedOut => SandboxError::TimedOut(message),
                        FailKind::Io => SandboxError::Io(message),
                    });
                }
                Ok(done) => {
                    self.give_back(proc);
                    return Ok(done);
                }
                Err(_) => {
                    let _ = proc.child.start_kill();
                    return Err(SandboxError::Crashed("unreadable answer".into()));
                }
            }
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(6)) => "it ran out of its memory budget or panicked".into(),
        (_, Some(24)) => "it used up its CPU time".into(),
        (_, Some(31)) => "it tried something its sandbox forbids".into(),
        (_, Some(9)) => "it was killed".into(),
        (_, Some(sig)) => format!("signal {sig}"),
        (Some(101), _) => "it panicked".into(),
        (Some(code), _) => format!("exit code {code}"),
        _ => "unknown exit".into(),
    }
}
