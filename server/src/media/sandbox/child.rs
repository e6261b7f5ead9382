//! The media worker's side of the sandbox: it confines itself, then reads
//! one JSON request per line from stdin and answers with progress lines and
//! one result line, until stdin closes.

use std::io::{BufRead, Write};
use std::time::Duration;

use super::*;

/// The child side: `wavekeep media-worker <memory-mb>`. Confines itself,
/// then answers requests from stdin until stdin closes.
pub fn child_main(memory_mb: u64) -> std::process::ExitCode {
    let confined = super::super::confine::apply(memory_mb);
    // A panic is reported by the exit status; keep stderr quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                super::super::confine::limit_cpu_for(budget_of(&req));
                handle(req, &mut out, &confined)
            }
            Err(e) => Line::Failed {
                kind: FailKind::Io,
                message: format!("bad request: {e}"),
            },
        };
        if send(&mut out, &answer).is_err() {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}

fn budget_of(req: &Request) -> Duration {
    let ms = match req {
        Request::Probe { budget_ms, .. }
        | Request::Waveform { budget_ms, .. }
        | Request::Preview { budget_ms, .. }
        | Request::Speech { budget_ms, .. }
        | Request::Tags { budget_ms, .. }
        | Request::Artwork { budget_ms, .. } => *budget_ms,
        Request::Exercise { budget_ms, .. } => budget_ms.saturating_mul(4),
        Request::Report => 10_000,
    };
    Duration::from_millis(ms)
}

fn send(out: &mut impl Write, line: &Line) -> std::io::Result<()> {
    let mut s = serde_json::to_string(line).map_err(std::io::Error::other)?;
    s.push('\n');
    out.write_all(s.as_bytes())?;
    out.flush()
}

fn failed(e: MediaError) -> Line {
    let kind = match e {
        MediaError::Unsupported(_) | MediaError::Malformed(_) | MediaError::Image(_) => {
            FailKind::Unreadable
        }
        MediaError::TimedOut => FailKind::TimedOut,
        MediaError::Io(_) => FailKind::Io,
    };
    let message = match &e {
        MediaError::Io(io) if app::errors::is_disk_full(io) => "disk full".to_string(),
        _ => e.to_string(),
    };
    Line::Failed { kind, message }
}

fn handle(req: Request, out: &mut impl Write, confined: &super::super::confine::Applied) -> Line {
    match req {
        Request::Report => Line::Report(super::super::confine::report(confined)),
        Request::Exercise {
            path,
            out_dir,
            budget_ms,
        } => {
            // No panic guard here: a panic ends the child, which is the point.
            analyze::exercise(&path, &out_dir, Duration::from_millis(budget_ms));
            Line::Exercised
        }
        Request::Speech {
            path,
            out_dir,
            max_chunk_ms,
            cuts,
            budget_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            let mut report = |p: u8| {
                let _ = send(out, &Line::Progress(p));
            };
            match analyze::speech_chunks(
                &path,
                &out_dir,
                max_chunk_ms,
                cuts.as_deref(),
                deadline,
                &mut report,
            ) {
                Ok(spans) => Line::Chunks(spans),
                Err(e) => failed(e),
            }
        }
        Request::Tags {
            path,
            art_out,
            budget_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            match analyze::read_tags(&path, &art_out, deadline) {
                Ok((tags, art)) => Line::Tags { tags, art },
                Err(e) => failed(e),
            }
        }
        Request::Artwork {
            src,
            out_dir,
            budget_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            match analyze::thumbnails(&src, &out_dir, deadline) {
                Ok((width, height, thumbs)) => Line::Art {
                    width,
                    height,
                    thumbs,
                },
                Err(e) => failed(e),
            }
        }
        Request::Probe { path, budget_ms } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            match analyze::probe(&path, deadline) {
                Ok(i) => Line::Info(i),
                Err(e) => failed(e),
            }
        }
        Request::Waveform {
            path,
            fine_spp,
            overview_points,
            budget_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            let mut report = |p: u8| {
                let _ = send(out, &Line::Progress(p));
            };
            match analyze::waveform(&path, fine_spp, overview_points, deadline, &mut report) {
                Ok((overview, fine)) => Line::Peaks {
                    overview: overview.to_json(),
                    fine: fine.to_json(),
                },
                Err(e) => failed(e),
            }
        }
        Request::Preview {
            path,
            out: dest,
            budget_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(budget_ms);
            let mut report = |p: u8| {
                let _ = send(out, &Line::Progress(p));
            };
            match analyze::preview(&path, &dest, deadline, &mut report) {
                Ok(n) => Line::Written(n),
                Err(e) => failed(e),
            }
        }
    }
}
