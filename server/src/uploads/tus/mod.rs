//! Resumable uploads speaking tus 1.0.0 (<https://tus.io/protocols/resumable-upload>)
//! at `/api/uploads`: core, creation, creation-with-upload, termination,
//! checksum (sha1, sha256, md5), expiration and concatenation.
//!
//! On the local disk bytes go to the spool (`uploads/<id>.part`); on object
//! storage to the bucket (`staged`: parts of a multipart upload and a tail,
//! with the running hash in the database), so any instance can take the next
//! PATCH. The offset in the database only ever counts bytes that are durable
//! (fsynced, or stored in the bucket). A PATCH holds a lease on its
//! upload, so a second PATCH on the same upload, from this process or
//! another, is refused with 423 while the first runs. When the last byte
//! arrives the upload is finalized (`ingest`) before the answer, which names
//! the track in `Wavekeep-Track-Id`.
//!
//! `reply`: answers and headers; `create`: creation and concatenation;
//! `patch`: receiving bytes, with checksums; `staged`: receiving them on
//! object storage.

mod create;
mod patch;
mod reply;
mod staged;

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, StatusCode};

use app::auth::guard::CurrentUser;
use app::db::now_ms;
use app::errors::AppError;
use app::uploads::db::Upload;

use reply::{check_version, gone, header, http_date, locked, respond, Tus, TusResult};
pub use reply::{BASE, CHECKSUMS, EXTENSIONS, VERSION};
use reply::{
    TUS_VERSION, UPLOAD_CONCAT, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET,
};

use super::ingest::{self, Incoming};
use super::Ingested;
use crate::state::ServerState;

/// `OPTIONS /api/uploads[/{id}]`: what this server supports.
pub async fn options(State(state): State<ServerState>) -> Response {
    Tus::new(StatusCode::NO_CONTENT)
        .header(&TUS_VERSION, VERSION)
        .header(&HeaderName::from_static("tus-extension"), EXTENSIONS)
        .header(
            &HeaderName::from_static("tus-max-size"),
            state.settings.upload_max_bytes,
        )
        .header(
            &HeaderName::from_static("tus-checksum-algorithm"),
            CHECKSUMS,
        )
        .into_response()
}

/// `POST /api/uploads`: creates an upload (or concatenates finished partial
/// uploads when `Upload-Concat: final;…`).
pub async fn create(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(create::create(state, viewer.id, headers, body).await)
}

/// `PATCH /api/uploads/{id}`: appends the body at `Upload-Offset`.
pub async fn patch(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(patch::patch(state, viewer.id, id, headers, body).await)
}

/// `POST /api/uploads/{id}` with `X-HTTP-Method-Override` (clients behind
/// proxies that drop PATCH and DELETE).
pub async fn overridden(
    state: State<ServerState>,
    user: CurrentUser,
    id: Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match header(&headers, &HeaderName::from_static("x-http-method-override"))
        .map(|m| m.to_ascii_uppercase())
        .as_deref()
    {
        Some("PATCH") => patch(state, user, id, headers, body).await,
        Some("DELETE") => terminate(state, user, id, headers).await,
        Some("HEAD") => head(state, user, id, headers).await,
        _ => Tus::from(AppError::method_not_allowed(
            "use PATCH, HEAD or DELETE on an upload",
        ))
        .header(&http::header::ALLOW, "HEAD, PATCH, DELETE, OPTIONS")
        .into_response(),
    }
}

/// `HEAD /api/uploads/{id}`: where the upload stands.
pub async fn head(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(head_inner(state, viewer.id, &id, &headers).await)
}

async fn head_inner(state: ServerState, owner_id: i64, id: &str, headers: &HeaderMap) -> TusResult {
    check_version(headers)?;
    let u = load(&state, id, owner_id).await?;
    if u.expired(now_ms()) {
        return Err(gone());
    }
    // A complete upload whose finalization was interrupted (a crash) is finished now.
    // (Not while a request holds it: that one is finalizing it.)
    let u = if u.state == "receiving"
        && u.received == u.length
        && u.concat == "none"
        && !u.leased(now_ms())
    {
        if state.storage.staging().is_some() {
            staged::finalize(&state, &u).await?;
        } else {
            let path = part_path(&state, id)?;
            finalize(&state, &u, incoming_of(&u), &path, None).await?;
        }
        load(&state, id, owner_id).await?
    } else {
        u
    };
    let mut t = Tus::new(StatusCode::OK)
        .header(&UPLOAD_OFFSET, u.received)
        .header(&UPLOAD_LENGTH, u.length);
    if !u.metadata.is_empty() {
        t = t.header(&UPLOAD_METADATA, &u.metadata);
    }
    match u.concat.as_str() {
        "partial" => t = t.header(&UPLOAD_CONCAT, "partial"),
        "final" => {
            let urls: Vec<String> = u
                .parts
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(|p| format!("{BASE}/{p}"))
                .collect();
            t = t.header(&UPLOAD_CONCAT, format!("final;{}", urls.join(" ")));
        }
        _ => {}
    }
    if u.state == "receiving" {
        t = t.header(&UPLOAD_EXPIRES, http_date(u.expires_at));
    }
    if let Some(err) = &u.error {
        t = t.header(
            &HeaderName::from_static("wavekeep-error"),
            err.replace(['\r', '\n'], " "),
        );
    }
    if let Some(done) = &u.result {
        t = t.ingested(done);
    }
    Ok(t)
}

/// `DELETE /api/uploads/{id}` (termination): the upload and its bytes go.
/// A finished upload's track stays.
pub async fn terminate(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(terminate_inner(state, viewer.id, &id, &headers).await)
}

async fn terminate_inner(
    state: ServerState,
    owner_id: i64,
    id: &str,
    headers: &HeaderMap,
) -> TusResult {
    check_version(headers)?;
    let u = load(&state, id, owner_id).await?;
    let Some(multipart) = app::uploads::db::delete_unless_leased(&state.db, &u.id).await? else {
        return Err(locked());
    };
    state
        .storage
        .discard_upload(&u.id, multipart.as_deref())
        .await;
    Ok(Tus::new(StatusCode::NO_CONTENT))
}

/// The upload, if it is `owner_id`'s: someone else's is indistinguishable
/// from none.
async fn load(state: &ServerState, id: &str, owner_id: i64) -> Result<Upload, Tus> {
    match app::uploads::db::load(&state.db, id).await? {
        Some(u) if u.owner_id == owner_id => Ok(u),
        _ => Err(AppError::NotFound.into()),
    }
}

fn part_path(state: &ServerState, id: &str) -> Result<PathBuf, Tus> {
    state
        .storage
        .spool()
        .upload_path(id)
        .ok_or_else(|| AppError::NotFound.into())
}

/// What a finished upload becomes, from what its creation said.
fn incoming_of(u: &Upload) -> Incoming {
    let m = reply::parse_metadata(&u.metadata).unwrap_or_default();
    Incoming {
        title: u.title.clone(),
        filename: u.filename.clone(),
        tags: ingest::field(&m, &["tags"]).map(str::to_string),
        visibility: ingest::visibility_from(&m).ok().flatten(),
        target: u.target.clone(),
        transcribe: ingest::transcribe_from(&m),
        ..Incoming::new_track(u.owner_id)
    }
}

/// Finalizes an upload whose bytes are all in `file`; an upload that can
/// never be stored (its target went away) is marked failed with the reason.
async fn finalize(
    state: &ServerState,
    upload: &Upload,
    incoming: Incoming,
    file: &std::path::Path,
    known: Option<ingest::Received>,
) -> Result<Ingested, Tus> {
    finalize_from(state, upload, incoming, ingest::Source::Spool(file), known).await
}

/// `finalize`, from the file wherever it is.
async fn finalize_from(
    state: &ServerState,
    upload: &Upload,
    incoming: Incoming,
    source: ingest::Source<'_>,
    known: Option<ingest::Received>,
) -> Result<Ingested, Tus> {
    match ingest::ingest_from(state, source, &incoming, Some(&upload.id), known).await {
        Ok(done) => Ok(done),
        Err(e) => {
            if matches!(e, AppError::NotFound | AppError::BadRequest(_)) {
                let why = format!("the upload could not be stored: {e}");
                app::uploads::db::mark_failed(&state.db, &upload.id, &why).await;
            }
            Err(e.into())
        }
    }
}
