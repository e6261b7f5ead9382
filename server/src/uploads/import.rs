//! `wavekeep import DIR --email …`: a whole folder of audio for one user,
//! through the same ingest as uploads (quota, one stored copy per content,
//! metadata and waveform jobs). The folder is walked recursively; a
//! symbolic link is followed only when it points at a file inside the
//! folder (never out of it, never into a directory: no loops). What is
//! audio is decided by the file's first bytes, not its name; other files
//! are passed over. A file whose content the user already has (by sha256)
//! is skipped, so a second run imports only what is new, and an
//! interrupted run loses nothing (each file is stored and recorded in one
//! step).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use app::errors::AppError;
use app::tracks::Visibility;
use app::uploads::quota::{self, Want};

use crate::state::ServerState;
use crate::storage::hash_file;
use crate::uploads::ingest::{self, Incoming, Received};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub owner_id: i64,
    pub visibility: Option<Visibility>,
    pub tags: Option<String>,
    pub dry_run: bool,
    pub jobs: usize,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub imported: u64,
    pub imported_bytes: u64,
    /// Already there (the same content), or would be imported (dry run).
    pub skipped: u64,
    pub would_import: u64,
    /// Files that are not audio, and links not followed.
    pub passed_over: u64,
    pub failed: Vec<(PathBuf, String)>,
}

enum Outcome {
    Imported(u64),
    AlreadyThere,
    WouldImport,
    Failed(String),
}

/// Files under `root` to import: audio by content, and files named as audio
/// whose content is not (they fail with the reason). Links are followed only
/// to files inside `root`; everything else is counted as passed over.
pub fn audio_files(root: &Path) -> std::io::Result<(Vec<Candidate>, u64)> {
    let root = root.canonicalize()?;
    let mut files = Vec::new();
    let mut passed_over = 0;
    for entry in walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let Ok(entry) = entry else {
            passed_over += 1;
            continue;
        };
        let path = entry.path().to_path_buf();
        let target = if entry.path_is_symlink() {
            match path.canonicalize() {
                Ok(t) if t.starts_with(&root) && t.is_file() => t,
                _ => {
                    passed_over += 1;
                    continue;
                }
            }
        } else if entry.file_type().is_file() {
            path.clone()
        } else {
            continue;
        };
        let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        let audio = size > 0 && crate::media::sniff::file_audio_kind(&target).is_some();
        if audio || named_as_audio(&path) {
            files.push(Candidate {
                link: entry.path_is_symlink(),
                depth: entry.depth(),
                path,
                audio,
            });
        } else {
            passed_over += 1;
        }
    }
    // Of files with the same content, the one imported (whose name becomes
    // the title) is the first of: files before links, shallower first, by name.
    files.sort_by(|a, b| (a.link, a.depth, &a.path).cmp(&(b.link, b.depth, &b.path)));
    Ok((files, passed_over))
}

/// A file to import.
pub struct Candidate {
    pub path: PathBuf,
    link: bool,
    depth: usize,
    /// Its content is audio (else only its name says so).
    pub audio: bool,
}

fn named_as_audio(path: &Path) -> bool {
    const NAMES: &[&str] = &[
        "wav", "wave", "mp3", "flac", "m4a", "mp4", "aac", "ogg", "oga", "opus", "aif", "aiff",
    ];
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| NAMES.contains(&e.to_ascii_lowercase().as_str()))
}

/// Imports every audio file under `root` for `opts.owner_id`, `opts.jobs`
/// at a time, with a progress bar on standard error (the CLI).
pub async fn import(
    state: &ServerState,
    root: &Path,
    opts: &ImportOptions,
) -> anyhow::Result<Summary> {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files {per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let summary = import_with(state, root, opts, |step| match step {
        Step::Found(n) => bar.set_length(n),
        Step::Done {
            summary,
            path,
            failed,
        } => {
            bar.inc(1);
            if let Some(why) = failed {
                bar.println(format!("failed: {}: {why}", path.display()));
            }
            bar.set_message(format!(
                "({} imported, {} already there, {} failed)",
                summary.imported,
                summary.skipped,
                summary.failed.len()
            ));
        }
    })
    .await;
    bar.finish_and_clear();
    summary
}

/// What an import reports as it goes.
pub enum Step<'a> {
    /// The folder was walked: this many files to look at.
    Found(u64),
    /// One file is done (`failed`: why it failed); the counts so far.
    Done {
        summary: &'a Summary,
        path: &'a Path,
        failed: Option<&'a str>,
    },
}

/// Imports every audio file under `root` for `opts.owner_id`, `opts.jobs`
/// at a time, telling `progress` about each step.
pub async fn import_with(
    state: &ServerState,
    root: &Path,
    opts: &ImportOptions,
    mut progress: impl FnMut(Step<'_>),
) -> anyhow::Result<Summary> {
    let root = root.to_path_buf();
    let (files, passed_over) = tokio::task::spawn_blocking(move || audio_files(&root)).await??;
    progress(Step::Found(files.len() as u64));
    let mut summary = Summary {
        passed_over,
        ..Summary::default()
    };
    let mut record = |summary: &mut Summary, path: PathBuf, outcome: Outcome| {
        let mut why = None;
        match outcome {
            Outcome::Imported(bytes) => {
                summary.imported += 1;
                summary.imported_bytes += bytes;
            }
            Outcome::AlreadyThere => summary.skipped += 1,
            Outcome::WouldImport => summary.would_import += 1,
            Outcome::Failed(w) => why = Some(w),
        }
        progress(Step::Done {
            summary,
            path: &path,
            failed: why.as_deref(),
        });
        if let Some(why) = why {
            summary.failed.push((path, why));
        }
    };
    // Hashed in order (several at once), so that of files with the same
    // content the first one is the one imported.
    let mut hashed = futures::stream::iter(files.into_iter().map(|file| async move {
        let hash = if file.audio {
            hash_file(&file.path)
                .await
                .map_err(|e| format!("reading it: {e}"))
        } else {
            Err("not an audio file: its content is no format wavekeep reads".to_string())
        };
        (file.path, hash)
    }))
    .buffered(opts.jobs.max(1));
    let mut claimed = std::collections::HashSet::new();
    let mut work = Vec::new();
    while let Some((path, hash)) = hashed.next().await {
        match hash {
            Err(why) => record(&mut summary, path, Outcome::Failed(why)),
            Ok((sha256, size)) => {
                if claimed.insert(sha256.clone()) {
                    work.push((path, sha256, size));
                } else {
                    record(&mut summary, path, Outcome::AlreadyThere);
                }
            }
        }
    }
    let mut runs = futures::stream::iter(work.into_iter().map(|(path, sha256, size)| async move {
        let outcome = import_one(state, &path, opts, sha256, size).await;
        (path, outcome)
    }))
    .buffer_unordered(opts.jobs.max(1));
    while let Some((path, outcome)) = runs.next().await {
        record(&mut summary, path, outcome);
    }
    Ok(summary)
}

async fn import_one(
    state: &ServerState,
    path: &Path,
    opts: &ImportOptions,
    sha256: String,
    size: u64,
) -> Outcome {
    match app::uploads::db::owner_has_content(&state.db, opts.owner_id, &sha256).await {
        Ok(true) => return Outcome::AlreadyThere,
        Ok(false) => {}
        Err(e) => return Outcome::Failed(e.to_string()),
    }
    if opts.dry_run {
        return Outcome::WouldImport;
    }
    // The user's file stays where it is: a copy goes through the spool.
    let tmp = state.storage.spool().tmp_path("import");
    if let Err(e) = tokio::fs::copy(path, &tmp).await {
        return Outcome::Failed(format!("copying it: {e}"));
    }
    let done = store(state, path, &tmp, opts, sha256, size).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    match done {
        Ok(()) => Outcome::Imported(size),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn store(
    state: &ServerState,
    path: &Path,
    tmp: &Path,
    opts: &ImportOptions,
    sha256: String,
    size: u64,
) -> Result<(), AppError> {
    let reservation = crate::storage::random_name();
    quota::reserve(
        &state.db,
        &reservation,
        opts.owner_id,
        Want::Exactly(size),
        state.settings.default_quota_bytes,
    )
    .await?;
    let filename = path.file_name().map(|n| {
        n.to_string_lossy()
            .chars()
            .take(ingest::MAX_FILENAME)
            .collect()
    });
    let incoming = Incoming {
        filename,
        tags: opts.tags.clone(),
        visibility: opts.visibility,
        reservation: Some(reservation.clone()),
        ..Incoming::new_track(opts.owner_id)
    };
    let received = Received {
        sha256,
        size,
        synced: false,
    };
    let stored = ingest::ingest(state, tmp, &incoming, None, Some(received)).await;
    if stored.is_err() {
        quota::release(&state.db, &reservation).await;
    }
    stored.map(|_| ())
}
