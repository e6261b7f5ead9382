//! Creating uploads: `POST /api/uploads` (creation, and
//! creation-with-upload when the first bytes ride along) and
//! `Upload-Concat: final;…`, which joins finished partial uploads into one
//! file and finalizes it at once.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use app::db::now_ms;
use app::errors::AppError;
use app::uploads::db::{NewUpload, Upload};
use app::uploads::Target;

use super::reply::{
    bad, check_version, gone, header, http_date, id_from_url, locked, parse_metadata,
};
use super::reply::{
    Tus, TusResult, BASE, OCTET, UPLOAD_CONCAT, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA,
    UPLOAD_OFFSET,
};
use super::{incoming_of, load, part_path};
use crate::state::ServerState;
use crate::uploads::ingest::{self, MAX_FILENAME, MAX_TITLE};
use crate::uploads::Ingested;

/// Most partial uploads one concatenation may join.
const MAX_PARTS: usize = 256;
/// How long a concatenation holds its parts (a crash frees them after this).
const JOIN_LEASE: Duration = Duration::from_secs(15 * 60);

pub async fn create(
    state: ServerState,
    owner_id: i64,
    headers: HeaderMap,
    body: Body,
) -> TusResult {
    check_version(&headers)?;
    let raw_meta = header(&headers, &UPLOAD_METADATA).unwrap_or("").to_string();
    let m = parse_metadata(&raw_meta)?;
    let target = ingest::target_from(&m)?;
    ingest::visibility_from(&m)?;
    let concat = header(&headers, &UPLOAD_CONCAT).unwrap_or("");
    if let Some(list) = concat.strip_prefix("final;") {
        return concatenate(&state, owner_id, list, &raw_meta, &m, target).await;
    }
    let concat = match concat {
        "" => "none",
        "partial" => "partial",
        _ => {
            return Err(bad(
                "Upload-Concat must be \"partial\" or \"final;<upload URLs>\"",
            ))
        }
    };
    if headers.contains_key("upload-defer-length") {
        return Err(bad(
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length: u64 = header(&headers, &UPLOAD_LENGTH)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("Upload-Length must be the file size in bytes"))?;
    let max = state.settings.upload_max_bytes;
    if length > max {
        return Err(AppError::PayloadTooLarge(format!(
            "this file ({}) is larger than the largest upload allowed ({})",
            app::fmt::bytes(length as i64),
            app::fmt::bytes(max as i64)
        ))
        .into());
    }
    if length == 0 && concat == "none" {
        return Err(bad("the file is empty"));
    }
    app::uploads::db::check_target(&state.db, owner_id, &target).await?;

    let id = crate::storage::random_name();
    let path = part_path(&state, &id)?;
    // On object storage the bytes are staged in the bucket, not here.
    if state.storage.staging().is_none() {
        tokio::fs::File::create(&path)
            .await
            .map_err(|e| Tus::from(AppError::io("creating an upload file", e)))?;
    }
    let expires_at = now_ms() + state.settings.upload_expiry.as_millis() as i64;
    let filename: Option<String> =
        ingest::field(&m, &["filename", "name"]).map(|s| s.chars().take(MAX_FILENAME).collect());
    let title: Option<String> =
        ingest::field(&m, &["title"]).map(|s| s.chars().take(MAX_TITLE).collect());
    // The quota check and the row (which counts against the quota until the
    // upload is finished or expires) are one transaction.
    let row = NewUpload {
        id: &id,
        owner_id,
        length: length as i64,
        metadata: &raw_meta,
        concat,
        parts: None,
        filename: filename.as_deref(),
        title: title.as_deref(),
        target: &target,
        expires_at,
    };
    if let Err(e) =
        app::uploads::db::create(&state.db, &row, state.settings.default_quota_bytes).await
    {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    let created = Tus::new(StatusCode::CREATED)
        .header(&http::header::LOCATION, format!("{BASE}/{id}"))
        .header(&UPLOAD_EXPIRES, http_date(expires_at));
    // creation-with-upload: the first bytes ride along with the POST.
    if header(&headers, &http::header::CONTENT_TYPE) != Some(OCTET) {
        return Ok(created);
    }
    let mut patch_headers = headers.clone();
    patch_headers.insert(UPLOAD_OFFSET.clone(), HeaderValue::from_static("0"));
    match super::patch::patch(state, owner_id, id, patch_headers, body).await {
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

/// `Upload-Concat: final;<url> <url> …`: joins finished partial uploads of
/// this user, in order. Each part is listed once and must be the user's
/// own; the parts are claimed together (their lease), so two concatenations
/// cannot use the same part. Their bytes count against the quota since
/// they were created, and stop counting in the transaction that stores the
/// joined file.
async fn concatenate(
    state: &ServerState,
    owner_id: i64,
    list: &str,
    raw_meta: &str,
    m: &[(String, String)],
    target: Target,
) -> TusResult {
    let urls: Vec<&str> = list.split_whitespace().collect();
    let ids: Vec<&str> = urls.iter().filter_map(|u| id_from_url(u)).collect();
    if ids.is_empty() || ids.len() != urls.len() {
        return Err(bad(
            "Upload-Concat: final; must list the partial uploads' URLs",
        ));
    }
    if ids.len() > MAX_PARTS {
        return Err(bad(format!(
            "Upload-Concat: at most {MAX_PARTS} partial uploads can be joined"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(bad(format!(
            "Upload-Concat: partial upload {twice} is listed more than once"
        )));
    }
    app::uploads::db::check_target(&state.db, owner_id, &target).await?;
    let now = now_ms();
    let mut parts = Vec::new();
    let mut length = 0i64;
    for id in &ids {
        let u = load(state, id, owner_id).await?;
        if u.expired(now) {
            return Err(gone());
        }
        if u.concat != "partial" {
            return Err(bad(format!("upload {id} is not a partial upload")));
        }
        if u.received != u.length || u.state != "receiving" {
            return Err(bad(format!("partial upload {id} is not complete")));
        }
        length += u.length;
        parts.push(u);
    }
    if length == 0 {
        return Err(bad("the file is empty"));
    }
    if length as u64 > state.settings.upload_max_bytes {
        return Err(AppError::PayloadTooLarge(
            "the parts add up to more than the largest upload allowed".into(),
        )
        .into());
    }
    let token = crate::storage::random_name();
    if !app::uploads::db::claim_parts(&state.db, owner_id, &ids, &token, JOIN_LEASE).await? {
        return Err(locked());
    }
    let joined = state.storage.spool().tmp_path("concat");
    let result =
        join_and_finalize(state, owner_id, &ids, &parts, &joined, raw_meta, m, target).await;
    let _ = tokio::fs::remove_file(&joined).await;
    let (id, done) = match result {
        Ok(v) => v,
        Err(e) => {
            app::uploads::db::release_leases(&state.db, &token).await;
            return Err(e);
        }
    };
    // The parts' rows went with the finalize transaction; their bytes go now.
    for part in &parts {
        state
            .storage
            .discard_upload(&part.id, part.staged.multipart.as_deref())
            .await;
    }
    Ok(Tus::new(StatusCode::CREATED)
        .header(&http::header::LOCATION, format!("{BASE}/{id}"))
        .ingested(&done))
}

/// Joins the claimed parts into `joined` (hashing on the way), records the
/// final upload and finalizes it; returns its id and result.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one request"
)]
async fn join_and_finalize(
    state: &ServerState,
    owner_id: i64,
    ids: &[&str],
    parts: &[Upload],
    joined: &std::path::Path,
    raw_meta: &str,
    m: &[(String, String)],
    target: Target,
) -> Result<(String, Ingested), Tus> {
    let known = if state.storage.staging().is_some() {
        super::staged::join(state, parts, joined).await?
    } else {
        let paths = parts
            .iter()
            .map(|u| part_path(state, &u.id))
            .collect::<Result<Vec<PathBuf>, Tus>>()?;
        join(paths, joined.to_path_buf())
            .await
            .map_err(|e| Tus::from(AppError::io("joining parts", e)))?
    };
    let id = crate::storage::random_name();
    let parts_list = ids.join(" ");
    let filename: Option<String> =
        ingest::field(m, &["filename", "name"]).map(|s| s.chars().take(MAX_FILENAME).collect());
    let title: Option<String> =
        ingest::field(m, &["title"]).map(|s| s.chars().take(MAX_TITLE).collect());
    app::uploads::db::insert_final(
        &state.db,
        &NewUpload {
            id: &id,
            owner_id,
            length: known.size as i64,
            metadata: raw_meta,
            concat: "final",
            parts: Some(&parts_list),
            filename: filename.as_deref(),
            title: title.as_deref(),
            target: &target,
            expires_at: now_ms() + state.settings.upload_expiry.as_millis() as i64,
        },
    )
    .await?;
    let upload = load(state, &id, owner_id).await?;
    let mut incoming = incoming_of(&upload);
    incoming.joined_parts = ids.iter().map(|s| s.to_string()).collect();
    let done = super::finalize(state, &upload, incoming, joined, Some(known)).await?;
    Ok((id, done))
}

/// Writes the parts one after another into `joined`, hashing as it goes.
async fn join(parts: Vec<PathBuf>, joined: PathBuf) -> std::io::Result<ingest::Received> {
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
    .map_err(std::io::Error::other)?
}
