//! `POST /api/admin/import` (admins): imports a folder on the server for a
//! user, as `wavekeep import` does, in the background; 202 with its id.
//! Only folders inside `WAVEKEEP_IMPORT_ROOT` can be imported (the path is
//! resolved, links and `..` included, before it is checked), so an admin
//! account cannot read the rest of the server's disk through it. The
//! progress is written to the `imports` table every half second (and every
//! 10 s at least), so /admin shows it live on every instance;
//! `GET /api/admin/imports` lists the latest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;

use app::admin::db::{self as admin_db, ImportProgress, IMPORT_ERRORS_KEPT};
use app::admin::ImportRow;
use app::auth::guard::AdminUser;
use app::errors::AppError;
use app::tracks::Visibility;

use super::json::ApiJson;
use crate::state::ServerState;
use crate::uploads::import::{import_with, ImportOptions, Step};

/// An import that has written nothing for this long was left by a process
/// that stopped.
const STALE: Duration = Duration::from_secs(120);
/// Progress is written at least this often (a heartbeat while a large
/// file is copied).
const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct ImportBody {
    /// A folder inside the import root (absolute, or relative to it).
    dir: String,
    /// The account the files go to.
    email: String,
    visibility: Option<String>,
    tags: Option<String>,
}

/// The folder `dir` names, resolved, when it is inside `root`.
fn inside_root(root: &Path, dir: &str) -> Result<PathBuf, AppError> {
    let root = root.canonicalize().map_err(|e| {
        AppError::internal(
            "reading the import root",
            format!("{}: {e}", root.display()),
        )
    })?;
    let wanted = if Path::new(dir).is_absolute() {
        PathBuf::from(dir)
    } else {
        root.join(dir)
    };
    let resolved = wanted
        .canonicalize()
        .map_err(|_| AppError::bad_request("there is no such folder under the import root"))?;
    if !resolved.starts_with(&root) {
        return Err(AppError::bad_request(
            "the folder must be inside the import root (WAVEKEEP_IMPORT_ROOT)",
        ));
    }
    if !resolved.is_dir() {
        return Err(AppError::bad_request("that is not a folder"));
    }
    Ok(resolved)
}

pub async fn start(
    State(state): State<ServerState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<Response, AppError> {
    let root = state.settings.import_root.clone().ok_or_else(|| {
        AppError::denied(
            "importing server folders is off: set WAVEKEEP_IMPORT_ROOT to the folder they may come from",
        )
    })?;
    if body.dir.len() > 4096 || body.email.len() > 320 {
        return Err(AppError::bad_request("the folder or email is too long"));
    }
    let tags = match body.tags {
        Some(t) if t.chars().count() > 500 => {
            return Err(AppError::bad_request(
                "the tags are longer than 500 characters",
            ))
        }
        t => t.filter(|t| !t.trim().is_empty()),
    };
    let visibility = match body.visibility.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(Visibility::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
            AppError::bad_request("visibility must be private, unlisted or public")
        })?),
    };
    let dir = inside_root(&root, body.dir.trim())?;
    let email = body.email.trim().to_lowercase();
    let owner_id = app::auth::db::user_id_by_email(&state.db, &email)
        .await?
        .ok_or_else(|| AppError::bad_request(format!("there is no account with email {email}")))?;
    admin_db::fail_stale_imports(&state.db, STALE.as_millis() as i64).await?;
    let shown = dir.to_string_lossy().into_owned();
    let id = admin_db::import_started(&state.db, owner_id, admin.id, &shown).await?;
    let opts = ImportOptions {
        owner_id,
        visibility,
        tags,
        dry_run: false,
        jobs: 2,
    };
    tokio::spawn(run(state.clone(), id, dir, opts));
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "status": "running", "dir": shown })),
    )
        .into_response())
}

/// Runs import `id`, writing its progress as it goes.
async fn run(state: ServerState, id: i64, dir: PathBuf, opts: ImportOptions) {
    let (tx, mut rx) = tokio::sync::watch::channel(ImportProgress {
        status: "running",
        ..ImportProgress::default()
    });
    let db = state.db.clone();
    let writer = tokio::spawn(async move {
        loop {
            let changed = tokio::time::timeout(HEARTBEAT, rx.changed()).await;
            if matches!(changed, Ok(Err(_))) {
                break;
            }
            let now = rx.borrow_and_update().clone();
            if let Err(e) = admin_db::import_progress(&db, id, &now).await {
                tracing::warn!(import = id, error = %e, "could not record an import's progress");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let result = import_with(&state, &dir, &opts, |step| {
        tx.send_modify(|p| match step {
            Step::Found(n) => p.total = Some(n as i64),
            Step::Done {
                summary,
                path,
                failed,
            } => {
                p.done += 1;
                p.imported = summary.imported as i64;
                p.skipped = summary.skipped as i64;
                if let Some(why) = failed {
                    p.failed += 1;
                    if p.errors.len() < IMPORT_ERRORS_KEPT {
                        let shown = path.strip_prefix(&dir).unwrap_or(path);
                        p.errors
                            .push((shown.to_string_lossy().into_owned(), why.to_string()));
                    }
                }
            }
        })
    })
    .await;
    let mut last = tx.borrow().clone();
    drop(tx);
    let _ = writer.await;
    match result {
        Ok(_) => last.status = "done",
        Err(e) => {
            last.status = "failed";
            last.message = Some(e.to_string());
        }
    }
    if let Err(e) = admin_db::import_progress(&state.db, id, &last).await {
        tracing::warn!(import = id, error = %e, "could not record an import's end");
    }
    tracing::info!(
        import = id,
        imported = last.imported,
        skipped = last.skipped,
        failed = last.failed,
        "server folder imported"
    );
}

pub async fn list(
    State(state): State<ServerState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Vec<ImportRow>>, AppError> {
    admin_db::fail_stale_imports(&state.db, STALE.as_millis() as i64).await?;
    Ok(Json(admin_db::imports(&state.db, 20).await?))
}
