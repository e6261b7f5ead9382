//! Resumable uploads speaking tus 1.0.0 (<https://tus.io/protocols/resumable-upload>)
//! at `/api/uploads`: core, creation, creation-with-upload, termination,
//! checksum (sha1, sha256, md5), expiration and concatenation.
//!
//! Bytes go to `data/uploads/<id>.part`; the offset in the database only
//! ever counts bytes that are fsynced. A PATCH holds a lease on its upload
//! (`lock_token`, `lock_until`), so a second PATCH on the same upload, from
//! this process or another, is refused with 423 while the first runs. When
//! the last byte arrives the upload is finalized (see `ingest`) before the
//! answer, which names the track in `Wavekeep-Track-Id`.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use sqlx::Row;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use app::auth::guard::CurrentUser;
use app::db::now_ms;
use app::errors::AppError;
use app::state::AppState;

use crate::ingest::{self, Incoming, Ingested, Target};
use crate::media::store::Store;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,termination,checksum,expiration,concatenation";
pub const CHECKSUMS: &str = "sha1,sha256,md5";
pub const BASE: &str = "/api/uploads";
const OCTET: &str = "application/offset+octet-stream";
/// Largest `Upload-Metadata` header accepted.
const MAX_METADATA: usize = 16 * 1024;
/// A PATCH's hold on its upload; renewed while bytes flow.
const LOCK_TTL: Duration = Duration::from_secs(30);
const LOCK_RENEW: Duration = Duration::from_secs(10);

/// sha256 state of unfinished uploads, keyed by upload id, with the offset it
/// covers: a PATCH that continues where the last one ended in this process
/// carries the hash on, so finalizing need not read the file again. A miss
/// (another process took the PATCH, a restart, eviction) only means the file
/// is hashed from disk at the end.
static PARTIAL_HASHES: std::sync::LazyLock<moka::future::Cache<String, (i64, Sha256)>> =
    std::sync::LazyLock::new(|| {
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(Duration::from_secs(6 * 3600))
            .build()
    });

static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");

/// A tus answer: status, headers, and a short text for people.
struct Tus {
    status: StatusCode,
    /// Boxed: answers travel as `Err` values and stay small.
    headers: Box<HeaderMap>,
    message: Option<String>,
}

impl Tus {
    fn new(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(VERSION));
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        Tus {
            status,
            headers: Box::new(headers),
            message: None,
        }
    }

    fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let mut t = Tus::new(status);
        t.message = Some(message.into());
        t
    }

    fn header(mut self, name: &HeaderName, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.insert(name.clone(), v);
        }
        self
    }

    fn ingested(self, done: &Ingested) -> Self {
        self.header(&HeaderName::from_static("wavekeep-track-id"), done.track_id)
            .header(
                &HeaderName::from_static("wavekeep-version-id"),
                done.version_id,
            )
            .header(&HeaderName::from_static("wavekeep-asset-id"), done.asset_id)
            .header(
                &HeaderName::from_static("wavekeep-track-url"),
                format!("/api/v1/tracks/{}", done.track_id),
            )
    }
}

impl From<AppError> for Tus {
    fn from(e: AppError) -> Self {
        let mut t = Tus::error(e.status(), e.to_string());
        if let Some(s) = e.retry_after() {
            t = t.header(&http::header::RETRY_AFTER, s);
        }
        t
    }
}

impl From<sqlx::Error> for Tus {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for Tus {
    fn into_response(self) -> Response {
        let mut res = match self.message {
            Some(m) => {
                let mut r = axum::Json(serde_json::json!({ "error": m })).into_response();
                *r.status_mut() = self.status;
                r
            }
            None => self.status.into_response(),
        };
        res.headers_mut().extend(*self.headers);
        res
    }
}

type TusResult = Result<Tus, Tus>;

fn respond(r: TusResult) -> Response {
    match r {
        Ok(t) | Err(t) => t.into_response(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn check_version(headers: &HeaderMap) -> Result<(), Tus> {
    match header(headers, &TUS_RESUMABLE) {
        Some(VERSION) => Ok(()),
        _ => Err(Tus::error(
            StatusCode::PRECONDITION_FAILED,
            "this server speaks tus 1.0.0 (send Tus-Resumable: 1.0.0)",
        )
        .header(&HeaderName::from_static("tus-version"), VERSION)),
    }
}

fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// `OPTIONS /api/uploads[/{id}]`: what this server supports.
pub async fn options(State(state): State<AppState>) -> Response {
    Tus::new(StatusCode::NO_CONTENT)
        .header(&HeaderName::from_static("tus-version"), VERSION)
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

/// Parsed `Upload-Metadata`: `key base64value` pairs separated by commas.
fn parse_metadata(raw: &str) -> Result<Vec<(String, String)>, Tus> {
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key = it.next().unwrap_or_default().to_string();
        let value = match it.next().map(str::trim) {
            Some(v) if !v.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| {
                        Tus::error(
                            StatusCode::BAD_REQUEST,
                            format!("Upload-Metadata: the value of \"{key}\" is not base64"),
                        )
                    })?;
                String::from_utf8(bytes).map_err(|_| {
                    Tus::error(
                        StatusCode::BAD_REQUEST,
                        format!("Upload-Metadata: the value of \"{key}\" is not UTF-8 text"),
                    )
                })?
            }
            _ => String::new(),
        };
        out.push((key, value));
    }
    Ok(out)
}

struct Upload {
    id: String,
    owner_id: i64,
    length: i64,
    received: i64,
    metadata: String,
    concat: String,
    parts: Option<String>,
    filename: Option<String>,
    title: Option<String>,
    target: String,
    target_id: Option<i64>,
    stem_role: Option<String>,
    state: String,
    error: Option<String>,
    track_id: Option<i64>,
    version_id: Option<i64>,
    asset_id: Option<i64>,
    expires_at: i64,
}

impl Upload {
    fn target(&self) -> Target {
        match (self.target.as_str(), self.target_id) {
            ("version", Some(track_id)) => Target::Version { track_id },
            ("stem", Some(version_id)) => Target::Stem {
                version_id,
                role: self.stem_role.clone().unwrap_or_default(),
            },
            _ => Target::NewTrack,
        }
    }

    fn incoming(&self) -> Incoming {
        let m = parse_metadata(&self.metadata).unwrap_or_default();
        Incoming {
            owner_id: self.owner_id,
            title: self.title.clone(),
            filename: self.filename.clone(),
            tags: ingest::field(&m, &["tags"]).map(str::to_string),
            visibility: ingest::visibility_from(&m).ok().flatten(),
            target: self.target(),
            reservation: None,
            joined_parts: Vec::new(),
        }
    }

    fn result(&self) -> Option<Ingested> {
        Some(Ingested {
            track_id: self.track_id?,
            version_id: self.version_id?,
            asset_id: self.asset_id?,
            stem_id: None,
        })
    }

    fn expired(&self, now: i64) -> bool {
        self.state == "receiving" && self.expires_at <= now
    }
}

async fn load(state: &AppState, id: &str, owner_id: i64) -> Result<Upload, Tus> {
    let row = sqlx::query(
        "SELECT id, owner_id, length, received, metadata, concat, parts, filename, title, target, \
         target_id, stem_role, state, error, track_id, version_id, asset_id, expires_at \
         FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(r) = row else {
        return Err(AppError::NotFound.into());
    };
    let u = Upload {
        id: r.get("id"),
        owner_id: r.get("owner_id"),
        length: r.get("length"),
        received: r.get("received"),
        metadata: r.get("metadata"),
        concat: r.get("concat"),
        parts: r.get("parts"),
        filename: r.get("filename"),
        title: r.get("title"),
        target: r.get("target"),
        target_id: r.get("target_id"),
        stem_role: r.get("stem_role"),
        state: r.get("state"),
        error: r.get("error"),
        track_id: r.get("track_id"),
        version_id: r.get("version_id"),
        asset_id: r.get("asset_id"),
        expires_at: r.get("expires_at"),
    };
    // Someone else's upload is indistinguishable from none.
    if u.owner_id != owner_id {
        return Err(AppError::NotFound.into());
    }
    Ok(u)
}

fn gone() -> Tus {
    Tus::error(
        StatusCode::GONE,
        "this upload expired before it was finished; start it again",
    )
}

fn part_path(state: &AppState, id: &str) -> Result<PathBuf, Tus> {
    Store::new(&state.settings.data_dir)
        .upload_path(id)
        .ok_or_else(|| AppError::NotFound.into())
}

/// The upload id in a URL or path (`…/api/uploads/<id>`).
fn id_from_url(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// `POST /api/uploads`: creates an upload (or concatenates finished partial
/// uploads when `Upload-Concat: final;…`).
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(viewer): CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(create_inner(state, viewer.id, headers, body).await)
}

async fn create_inner(state: AppState, owner_id: i64, headers: HeaderMap, body: Body) -> TusResult {
    check_version(&headers)?;
    let raw_meta = header(&headers, &UPLOAD_METADATA).unwrap_or("").to_string();
    if raw_meta.len() > MAX_METADATA {
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            format!("Upload-Metadata is larger than {MAX_METADATA} bytes"),
        ));
    }
    let m = parse_metadata(&raw_meta)?;
    let target = ingest::target_from(&m)?;
    ingest::visibility_from(&m)?;
    let concat = header(&headers, &UPLOAD_CONCAT).unwrap_or("");
    if let Some(list) = concat.strip_prefix("final;") {
        return concatenate(&state, owner_id, list, raw_meta.clone(), &m, target).await;
    }
    let concat = match concat {
        "" => "none",
        "partial" => "partial",
        _ => {
            return Err(Tus::error(
                StatusCode::BAD_REQUEST,
                "Upload-Concat must be \"partial\" or \"final;<upload URLs>\"",
            ))
        }
    };
    if headers.contains_key("upload-defer-length") {
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length: u64 = header(&headers, &UPLOAD_LENGTH)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Tus::error(
                StatusCode::BAD_REQUEST,
                "Upload-Length must be the file size in bytes",
            )
        })?;
    if length > state.settings.upload_max_bytes {
        return Err(Tus::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "this file ({}) is larger than the largest upload allowed ({})",
                app::fmt::bytes(length as i64),
                app::fmt::bytes(state.settings.upload_max_bytes as i64)
            ),
        ));
    }
    if length == 0 && concat == "none" {
        return Err(Tus::error(StatusCode::BAD_REQUEST, "the file is empty"));
    }
    ingest::check_target(&state.db, owner_id, &target).await?;

    let id = new_upload_id();
    let path = part_path(&state, &id)?;
    tokio::fs::File::create(&path)
        .await
        .map_err(|e| Tus::from(AppError::internal("creating an upload file", e)))?;
    let now = now_ms();
    let expires_at = now + state.settings.upload_expiry.as_millis() as i64;
    let (target_id, role) = target_columns(&target);
    let filename =
        ingest::field(&m, &["filename", "name"]).map(|s| s.chars().take(255).collect::<String>());
    let title = ingest::field(&m, &["title"])
        .map(|s| s.chars().take(ingest::MAX_TITLE).collect::<String>());
    // The quota check and the upload row (which counts against the quota
    // until it is finished or expires) are one transaction.
    let inserted = async {
        let _turn = state.db.write_turn().await;
        let mut tx = state.db.pool().begin().await?;
        app::uploads::db::check_room(
            &mut tx,
            owner_id,
            length,
            state.settings.default_quota_bytes,
        )
        .await?;
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, length, metadata, concat, filename, title, target, target_id, \
             stem_role, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&id)
        .bind(owner_id)
        .bind(length as i64)
        .bind(&raw_meta)
        .bind(concat)
        .bind(filename)
        .bind(title)
        .bind(target.name())
        .bind(target_id)
        .bind(role)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(e) = inserted {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    let location = format!("{BASE}/{id}");
    let created = Tus::new(StatusCode::CREATED)
        .header(&http::header::LOCATION, &location)
        .header(&UPLOAD_EXPIRES, http_date(expires_at));
    // creation-with-upload: the first bytes ride along with the POST.
    let with_data = header(&headers, &http::header::CONTENT_TYPE) == Some(OCTET);
    if !with_data {
        return Ok(created);
    }
    let mut patch_headers = headers.clone();
    patch_headers.insert(UPLOAD_OFFSET.clone(), HeaderValue::from_static("0"));
    match patch_inner(state, owner_id, id, patch_headers, body).await {
        Ok(t) | Err(t) if t.status.is_success() => {
            let mut res = created;
            for (k, v) in t.headers.iter() {
                if k != http::header::CACHE_CONTROL {
                    res.headers.insert(k.clone(), v.clone());
                }
            }
            Ok(res)
        }
        Ok(t) | Err(t) => Err(t),
    }
}

fn target_columns(target: &Target) -> (Option<i64>, Option<String>) {
    match target {
        Target::NewTrack => (None, None),
        Target::Version { track_id } => (Some(*track_id), None),
        Target::Stem { version_id, role } => (Some(*version_id), Some(role.clone())),
    }
}

fn new_upload_id() -> String {
    app::auth::session::new_token()[..32].to_string()
}

/// Most partial uploads one concatenation may join.
const MAX_PARTS: usize = 256;

/// `Upload-Concat: final;<url> <url> …`: joins finished partial uploads of
/// this user, in order, into one file and finalizes it at once. Each part
/// is listed once and must be the user's own; the parts are claimed
/// together (their lease), so two concatenations cannot use the same part.
/// Their bytes already count against the quota since they were created, and
/// they stop counting in the transaction that stores the joined file.
async fn concatenate(
    state: &AppState,
    owner_id: i64,
    list: &str,
    raw_meta: String,
    m: &[(String, String)],
    target: Target,
) -> TusResult {
    let urls: Vec<&str> = list.split_whitespace().collect();
    let ids: Vec<&str> = urls.iter().filter_map(|u| id_from_url(u)).collect();
    if ids.is_empty() || ids.len() != urls.len() {
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            "Upload-Concat: final; must list the partial uploads' URLs",
        ));
    }
    if ids.len() > MAX_PARTS {
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            format!("Upload-Concat: at most {MAX_PARTS} partial uploads can be joined"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            format!("Upload-Concat: partial upload {twice} is listed more than once"),
        ));
    }
    ingest::check_target(&state.db, owner_id, &target).await?;
    let now = now_ms();
    let mut parts = Vec::new();
    let mut length = 0i64;
    for id in &ids {
        let u = load(state, id, owner_id).await?;
        if u.expired(now) {
            return Err(gone());
        }
        if u.concat != "partial" {
            return Err(Tus::error(
                StatusCode::BAD_REQUEST,
                format!("upload {id} is not a partial upload"),
            ));
        }
        if u.received != u.length || u.state != "receiving" {
            return Err(Tus::error(
                StatusCode::BAD_REQUEST,
                format!("partial upload {id} is not complete"),
            ));
        }
        length += u.length;
        parts.push(part_path(state, id)?);
    }
    if length == 0 {
        return Err(Tus::error(StatusCode::BAD_REQUEST, "the file is empty"));
    }
    if length as u64 > state.settings.upload_max_bytes {
        return Err(Tus::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the parts add up to more than the largest upload allowed",
        ));
    }
    let token = app::auth::session::new_token();
    if !claim_parts(state, owner_id, &ids, &token).await? {
        release_parts(state, &token).await;
        return Err(locked());
    }
    let joined = Store::new(&state.settings.data_dir).tmp_path("concat");
    let result =
        join_and_finalize(state, owner_id, &ids, parts, &joined, raw_meta, m, target).await;
    let _ = tokio::fs::remove_file(&joined).await;
    let (id, done) = match result {
        Ok(v) => v,
        Err(e) => {
            release_parts(state, &token).await;
            return Err(e);
        }
    };
    // The parts' rows went with the finalize transaction; their bytes go now.
    for part in &ids {
        if let Ok(p) = part_path(state, part) {
            if let Err(e) = tokio::fs::remove_file(&p).await {
                tracing::warn!(upload = %part, error = %e, "could not remove a joined part");
            }
        }
    }
    Ok(Tus::new(StatusCode::CREATED)
        .header(&http::header::LOCATION, format!("{BASE}/{id}"))
        .ingested(&done))
}

/// Takes the lease of every listed part at once: all complete partial
/// uploads of `owner_id` that no other request holds. False when any is not.
async fn claim_parts(
    state: &AppState,
    owner_id: i64,
    ids: &[&str],
    token: &str,
) -> Result<bool, Tus> {
    let now = now_ms();
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 5)).collect();
    let sql = format!(
        "UPDATE uploads SET lock_token = $1, lock_until = $2 \
         WHERE owner_id = $3 AND concat = 'partial' AND state = 'receiving' AND received = length \
         AND (lock_until IS NULL OR lock_until < $4) AND id IN ({})",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .bind(now + JOIN_LEASE.as_millis() as i64)
        .bind(owner_id)
        .bind(now);
    for id in ids {
        q = q.bind(*id);
    }
    let _turn = state.db.write_turn().await;
    let claimed = q.execute(state.db.pool()).await?.rows_affected();
    Ok(claimed == ids.len() as u64)
}

/// How long a concatenation holds its parts (a crash frees them after this).
const JOIN_LEASE: Duration = Duration::from_secs(15 * 60);

async fn release_parts(state: &AppState, token: &str) {
    if let Err(e) =
        sqlx::query("UPDATE uploads SET lock_token = NULL, lock_until = NULL WHERE lock_token = $1")
            .bind(token)
            .execute(state.db.pool())
            .await
    {
        tracing::warn!(error = %e, "could not release joined parts; their lease will expire");
    }
}

/// Joins the claimed parts into `joined` (hashing on the way), records the
/// final upload and finalizes it; returns its id and result.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one request"
)]
async fn join_and_finalize(
    state: &AppState,
    owner_id: i64,
    ids: &[&str],
    parts: Vec<PathBuf>,
    joined: &std::path::Path,
    raw_meta: String,
    m: &[(String, String)],
    target: Target,
) -> Result<(String, Ingested), Tus> {
    let known = {
        let joined = joined.to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<ingest::Received> {
            use std::io::{Read, Write};
            let mut out = std::fs::File::create(&joined)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            for p in parts {
                let mut f = std::fs::File::open(p)?;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    out.write_all(&buf[..n])?;
                    size += n as u64;
                }
            }
            out.sync_data()?;
            Ok(ingest::Received {
                sha256: hex::encode(hasher.finalize()),
                size,
                synced: true,
            })
        })
        .await
        .map_err(|e| Tus::from(AppError::internal("joining parts", e)))?
        .map_err(|e| Tus::from(AppError::internal("joining parts", e)))?
    };
    let id = new_upload_id();
    let now = now_ms();
    let (target_id, role) = target_columns(&target);
    let expires_at = now + state.settings.upload_expiry.as_millis() as i64;
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, length, received, metadata, concat, parts, filename, title, \
         target, target_id, stem_role, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $3, $4, 'final', $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(&id)
    .bind(owner_id)
    .bind(known.size as i64)
    .bind(&raw_meta)
    .bind(ids.join(" "))
    .bind(ingest::field(m, &["filename", "name"]))
    .bind(ingest::field(m, &["title"]))
    .bind(target.name())
    .bind(target_id)
    .bind(role)
    .bind(expires_at)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    let upload = load(state, &id, owner_id).await?;
    let mut incoming = upload.incoming();
    incoming.joined_parts = ids.iter().map(|s| s.to_string()).collect();
    let done = finalize_with(state, &upload, incoming, joined, Some(known)).await?;
    Ok((id, done))
}

async fn finalize(
    state: &AppState,
    upload: &Upload,
    file: &std::path::Path,
    known: Option<ingest::Received>,
) -> Result<Ingested, Tus> {
    finalize_with(state, upload, upload.incoming(), file, known).await
}

async fn finalize_with(
    state: &AppState,
    upload: &Upload,
    incoming: Incoming,
    file: &std::path::Path,
    known: Option<ingest::Received>,
) -> Result<Ingested, Tus> {
    match ingest::ingest(state, file, &incoming, Some(&upload.id), known).await {
        Ok(done) => Ok(done),
        Err(e) => {
            if matches!(e, AppError::NotFound | AppError::BadRequest(_)) {
                if let Err(db) =
                    sqlx::query("UPDATE uploads SET state = 'failed', error = $1 WHERE id = $2")
                        .bind(format!("the upload could not be stored: {e}"))
                        .bind(&upload.id)
                        .execute(state.db.pool())
                        .await
                {
                    tracing::warn!(upload = %upload.id, error = %db, "could not record a failed upload");
                }
            }
            Err(e.into())
        }
    }
}

/// `HEAD /api/uploads/{id}`: where the upload stands.
pub async fn head(
    State(state): State<AppState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(head_inner(state, viewer.id, &id, &headers).await)
}

async fn head_inner(state: AppState, owner_id: i64, id: &str, headers: &HeaderMap) -> TusResult {
    check_version(headers)?;
    let u = load(&state, id, owner_id).await?;
    if u.expired(now_ms()) {
        return Err(gone());
    }
    // A complete upload whose finalization was interrupted (a crash) is finished now.
    let u = if u.state == "receiving" && u.received == u.length && u.concat == "none" {
        let path = part_path(&state, id)?;
        finalize(&state, &u, &path, None).await?;
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
                .clone()
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
    if let Some(done) = u.result() {
        t = t.ingested(&done);
    }
    Ok(t)
}

/// `DELETE /api/uploads/{id}` (termination): the upload and its bytes go.
/// A finished upload's track stays.
pub async fn terminate(
    State(state): State<AppState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(terminate_inner(state, viewer.id, &id, &headers).await)
}

async fn terminate_inner(
    state: AppState,
    owner_id: i64,
    id: &str,
    headers: &HeaderMap,
) -> TusResult {
    check_version(headers)?;
    let u = load(&state, id, owner_id).await?;
    let now = now_ms();
    let deleted = sqlx::query(
        "DELETE FROM uploads WHERE id = $1 AND (lock_until IS NULL OR lock_until < $2)",
    )
    .bind(&u.id)
    .bind(now)
    .execute(state.db.pool())
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(locked());
    }
    let _ = tokio::fs::remove_file(part_path(&state, id)?).await;
    Ok(Tus::new(StatusCode::NO_CONTENT))
}

fn locked() -> Tus {
    Tus::error(
        StatusCode::LOCKED,
        "another request is writing to this upload; try again when it has finished",
    )
}

/// `PATCH /api/uploads/{id}`: appends the body at `Upload-Offset`.
pub async fn patch(
    State(state): State<AppState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(patch_inner(state, viewer.id, id, headers, body).await)
}

/// `POST /api/uploads/{id}` with `X-HTTP-Method-Override` (clients behind
/// proxies that drop PATCH and DELETE).
pub async fn overridden(
    state: State<AppState>,
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
        _ => Tus::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use PATCH, HEAD or DELETE on an upload",
        )
        .header(&http::header::ALLOW, "HEAD, PATCH, DELETE, OPTIONS")
        .into_response(),
    }
}

enum Checksum {
    Sha1(Sha1),
    Sha256(Sha256),
    Md5(Md5),
}

impl Checksum {
    fn parse(value: &str) -> Result<(Checksum, Vec<u8>), Tus> {
        let (algo, b64) = value.split_once(' ').ok_or_else(|| {
            Tus::error(
                StatusCode::BAD_REQUEST,
                "Upload-Checksum must be \"<algorithm> <base64 digest>\"",
            )
        })?;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| {
                Tus::error(
                    StatusCode::BAD_REQUEST,
                    "Upload-Checksum: the digest is not base64",
                )
            })?;
        let c = match algo.trim() {
            "sha1" => Checksum::Sha1(Sha1::new()),
            "sha256" => Checksum::Sha256(Sha256::new()),
            "md5" => Checksum::Md5(Md5::new()),
            other => {
                return Err(Tus::error(
                    StatusCode::BAD_REQUEST,
                    format!("Upload-Checksum: unsupported algorithm \"{other}\" (use {CHECKSUMS})"),
                ))
            }
        };
        Ok((c, expected))
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Checksum::Sha1(h) => h.update(data),
            Checksum::Sha256(h) => h.update(data),
            Checksum::Md5(h) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Checksum::Sha1(h) => h.finalize().to_vec(),
            Checksum::Sha256(h) => h.finalize().to_vec(),
            Checksum::Md5(h) => h.finalize().to_vec(),
        }
    }
}

async fn patch_inner(
    state: AppState,
    owner_id: i64,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> TusResult {
    check_version(&headers)?;
    if header(&headers, &http::header::CONTENT_TYPE) != Some(OCTET) {
        return Err(Tus::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("PATCH bodies must be sent as Content-Type: {OCTET}"),
        ));
    }
    let offset: i64 = header(&headers, &UPLOAD_OFFSET)
        .and_then(|v| v.parse().ok())
        .filter(|v: &i64| *v >= 0)
        .ok_or_else(|| {
            Tus::error(
                StatusCode::BAD_REQUEST,
                "Upload-Offset must be a byte offset",
            )
        })?;
    let mut checksum = match header(&headers, &UPLOAD_CHECKSUM) {
        Some(v) => Some(Checksum::parse(v)?),
        None => None,
    };
    let u = load(&state, &id, owner_id).await?;
    let now = now_ms();
    if u.expired(now) {
        return Err(gone());
    }
    if u.concat == "final" {
        return Err(Tus::error(
            StatusCode::FORBIDDEN,
            "a final (concatenated) upload takes no PATCH",
        ));
    }
    if u.state == "failed" {
        return Err(Tus::error(
            StatusCode::GONE,
            u.error.unwrap_or_else(|| "this upload failed".into()),
        ));
    }
    if offset != u.received {
        return Err(Tus::error(
            StatusCode::CONFLICT,
            format!(
                "Upload-Offset is {offset} but the upload is at {}",
                u.received
            ),
        )
        .header(&UPLOAD_OFFSET, u.received));
    }
    if u.state == "done" {
        // A repeated last PATCH: answer as before.
        let mut t = Tus::new(StatusCode::NO_CONTENT).header(&UPLOAD_OFFSET, u.received);
        if let Some(done) = u.result() {
            t = t.ingested(&done);
        }
        return Ok(t);
    }
    // The lease: one writer per upload, across processes.
    let token = app::auth::session::new_token();
    let turn = state.db.write_turn().await;
    let took = sqlx::query(
        "UPDATE uploads SET lock_token = $1, lock_until = $2 \
         WHERE id = $3 AND received = $4 AND state = 'receiving' AND (lock_until IS NULL OR lock_until < $5)",
    )
    .bind(&token)
    .bind(now + LOCK_TTL.as_millis() as i64)
    .bind(&id)
    .bind(offset)
    .bind(now)
    .execute(state.db.pool())
    .await?
    .rows_affected();
    drop(turn);
    if took == 0 {
        return Err(locked());
    }
    let result = receive(&state, &u, &token, body, checksum.as_mut()).await;
    let written = match result {
        Ok(n) => n,
        Err(e) => {
            release(&state, &id, &token).await;
            return Err(e);
        }
    };
    if let Some((c, expected)) = checksum {
        if c.finish() != expected {
            // The bytes of this PATCH are dropped; the offset stays where it was.
            let path = part_path(&state, &id)?;
            truncate(&path, offset as u64).await;
            release(&state, &id, &token).await;
            return Err(Tus::error(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum mismatch: the bytes of this PATCH were discarded",
            )
            .header(&UPLOAD_OFFSET, offset));
        }
    }
    let received = offset + written.bytes as i64;
    let expires_at = now_ms() + state.settings.upload_expiry.as_millis() as i64;
    if received == u.length && u.concat == "none" && written.interrupted.is_none() {
        // The last byte: finalizing records the offset in its own transaction.
        let path = part_path(&state, &id)?;
        let known = written.hasher.map(|h| ingest::Received {
            sha256: hex::encode(h.finalize()),
            size: received as u64,
            synced: true,
        });
        return match finalize(&state, &u, &path, known).await {
            Ok(done) => Ok(Tus::new(StatusCode::NO_CONTENT)
                .header(&UPLOAD_OFFSET, received)
                .header(&UPLOAD_EXPIRES, http_date(expires_at))
                .ingested(&done)),
            Err(e) => {
                // The bytes are kept: a retried PATCH at this offset finalizes again.
                record_received(&state, &id, &token, received, expires_at).await?;
                Err(e)
            }
        };
    }
    record_received(&state, &id, &token, received, expires_at).await?;
    if let Some(h) = written.hasher {
        PARTIAL_HASHES.insert(id.clone(), (received, h)).await;
    }
    if let Some(err) = written.interrupted {
        tracing::info!(upload = %id, received, error = %err, "PATCH interrupted; bytes kept");
        return Err(Tus::error(
            StatusCode::BAD_REQUEST,
            format!("the upload was interrupted: {err}"),
        )
        .header(&UPLOAD_OFFSET, received));
    }
    Ok(Tus::new(StatusCode::NO_CONTENT)
        .header(&UPLOAD_OFFSET, received)
        .header(&UPLOAD_EXPIRES, http_date(expires_at)))
}

/// Records a PATCH's fsynced bytes and ends its lease.
async fn record_received(
    state: &AppState,
    id: &str,
    token: &str,
    received: i64,
    expires_at: i64,
) -> Result<(), Tus> {
    let _turn = state.db.write_turn().await;
    sqlx::query(
        "UPDATE uploads SET received = $1, expires_at = $2, updated_at = $3, lock_token = NULL, lock_until = NULL \
         WHERE id = $4 AND lock_token = $5",
    )
    .bind(received)
    .bind(expires_at)
    .bind(now_ms())
    .bind(id)
    .bind(token)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

async fn release(state: &AppState, id: &str, token: &str) {
    let _ = sqlx::query(
        "UPDATE uploads SET lock_token = NULL, lock_until = NULL WHERE id = $1 AND lock_token = $2",
    )
    .bind(id)
    .bind(token)
    .execute(state.db.pool())
    .await;
}

async fn truncate(path: &std::path::Path, len: u64) {
    if let Ok(f) = tokio::fs::OpenOptions::new().write(true).open(path).await {
        let _ = f.set_len(len).await;
        let _ = f.sync_all().await;
    }
}

struct Written {
    bytes: u64,
    /// The client went away (or stalled) before the body ended.
    interrupted: Option<String>,
    /// sha256 of the part file's first `received + bytes` bytes, when this
    /// process saw all of them (see `PARTIAL_HASHES`).
    hasher: Option<Sha256>,
}

/// Streams the body to the end of the part file; bytes are fsynced before
/// the caller records the new offset.
async fn receive(
    state: &AppState,
    u: &Upload,
    token: &str,
    body: Body,
    mut checksum: Option<&mut (Checksum, Vec<u8>)>,
) -> Result<Written, Tus> {
    let path = part_path(state, &u.id)?;
    let io = |e: std::io::Error| Tus::from(AppError::internal("writing an upload", e));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .await
        .map_err(io)?;
    // Bytes past the recorded offset (a crash before it was recorded) are not trusted.
    file.set_len(u.received as u64).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(u.received as u64))
        .await
        .map_err(io)?;
    let mut hasher = match PARTIAL_HASHES.remove(&u.id).await {
        Some((at, h)) if at == u.received => Some(h),
        _ if u.received == 0 => Some(Sha256::new()),
        _ => None,
    };
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let room = (u.length - u.received).max(0) as u64;
    let mut bytes = 0u64;
    let mut interrupted = None;
    let mut renewed = std::time::Instant::now();
    let mut stream = body.into_data_stream();
    loop {
        // A client that stalls or trickles is cut off by the body guard
        // (`http::body_guard`): its error ends the PATCH like a dropped
        // connection, keeping what arrived and freeing the lease.
        let chunk = match stream.next().await {
            None => break,
            Some(Err(e)) => {
                interrupted = Some(e.to_string());
                break;
            }
            Some(Ok(c)) => c,
        };
        if bytes + chunk.len() as u64 > room {
            out.flush().await.map_err(io)?;
            truncate(&path, u.received as u64).await;
            return Err(Tus::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body goes past Upload-Length ({} bytes)", u.length),
            ));
        }
        if renewed.elapsed() >= LOCK_RENEW {
            let now = now_ms();
            let kept =
                sqlx::query("UPDATE uploads SET lock_until = $1 WHERE id = $2 AND lock_token = $3")
                    .bind(now + LOCK_TTL.as_millis() as i64)
                    .bind(&u.id)
                    .bind(token)
                    .execute(state.db.pool())
                    .await?
                    .rows_affected();
            if kept == 0 {
                return Err(locked());
            }
            renewed = std::time::Instant::now();
        }
        if let Some(c) = checksum.as_mut() {
            c.0.update(&chunk);
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        out.write_all(&chunk).await.map_err(io)?;
        bytes += chunk.len() as u64;
    }
    out.flush().await.map_err(io)?;
    let file = out.into_inner();
    file.sync_data().await.map_err(io)?;
    if interrupted.is_some() && checksum.is_some() {
        // Bytes that cannot be verified are not kept.
        truncate(&path, u.received as u64).await;
        return Ok(Written {
            bytes: 0,
            interrupted,
            hasher: None,
        });
    }
    Ok(Written {
        bytes,
        interrupted,
        hasher,
    })
}

/// Expired unfinished uploads and old finished ones (rows and bytes),
/// stale temporary files, and stored files left without a row by a crash.
pub async fn sweep(state: &AppState) -> Result<u64, AppError> {
    let now = now_ms();
    let keep_done = state.settings.upload_expiry.as_millis() as i64;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM uploads WHERE (state = 'receiving' AND expires_at < $1) \
         OR (state <> 'receiving' AND updated_at < $2) LIMIT 1000",
    )
    .bind(now)
    .bind(now - keep_done)
    .fetch_all(state.db.pool())
    .await?;
    let store = Store::new(&state.settings.data_dir);
    let mut n = 0;
    for id in ids {
        let gone = sqlx::query(
            "DELETE FROM uploads WHERE id = $1 AND (lock_until IS NULL OR lock_until < $2)",
        )
        .bind(&id)
        .bind(now)
        .execute(state.db.pool())
        .await?
        .rows_affected();
        if gone > 0 {
            if let Some(p) = store.upload_path(&id) {
                let _ = tokio::fs::remove_file(p).await;
            }
            n += 1;
        }
    }
    // Bytes of finished uploads left by a crash after finalizing, and files
    // with no upload at all.
    let live: Vec<String> = sqlx::query_scalar("SELECT id FROM uploads WHERE state = 'receiving'")
        .fetch_all(state.db.pool())
        .await?;
    let _ = store
        .sweep_uploads(Duration::from_secs(60), live.into_iter().collect())
        .await;
    let _ = store.sweep_tmp(Duration::from_secs(3600)).await;
    // Files stored just before a crash, whose rows were never committed.
    let recent = store
        .recent_objects(
            Duration::from_secs(3600),
            Duration::from_secs(3 * 24 * 3600),
        )
        .await
        .unwrap_or_default();
    for (_path, sha) in recent {
        match crate::worker::purge::remove_if_unused(state, &sha).await {
            Ok(true) => tracing::info!(object = %sha, "removed a stored file no row refers to"),
            Ok(false) => {}
            Err(e) => tracing::warn!(object = %sha, error = %e, "could not sweep a stored file"),
        }
    }
    Ok(n)
}
