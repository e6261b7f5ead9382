//! Finalizing an upload: a complete file in the spool becomes stored
//! content and a new track, a new version of a track, or a stem of a
//! version. The steps, in order:
//!
//! 1. **know the content**: its sha256 and size (handed over by the
//!    receiver, which hashed the bytes as they arrived, or read back);
//! 2. **store the bytes** under their content address (durable before any
//!    row points at them);
//! 3. **lock** the owner and the content, and link the bytes again if a
//!    purge removed them meanwhile;
//! 4. **claim the upload** (tus: the loser of a race gets the winner's result);
//! 5. **find or insert the asset** (one per owner and content), with its
//!    metadata job;
//! 6. **place it**: insert the track, version or stem;
//! 7. **end what was in flight** (the quota reservation, joined parts) and
//!    record the result; commit — every row in one transaction.
//!
//! Used by tus and by `POST /api/v1/tracks`.

use std::path::Path;

use app::errors::AppError;
use app::jobs::db::NewJob;
use app::tracks::Visibility;
use app::uploads::finalize::{AssetStatus, Finalizing, NewAsset};

use super::{Ingested, Target};
use crate::state::ServerState;
use crate::storage::hash_file;

#[derive(Debug, Clone)]
pub struct Incoming {
    pub owner_id: i64,
    pub title: Option<String>,
    /// The uploader's name for the file: a title when none is given, and the
    /// download's extension. Never decides how the file is served.
    pub filename: Option<String>,
    pub tags: Option<String>,
    /// A new track's visibility (private when not given).
    pub visibility: Option<Visibility>,
    pub target: Target,
    /// The quota reservation the bytes were received under (machine API),
    /// ended in the transaction that stores them.
    pub reservation: Option<String>,
    /// Partial tus uploads this file was joined from, deleted in the same
    /// transaction (until then they count against the quota).
    pub joined_parts: Vec<String>,
    /// Transcribe it (`transcribe=1`); `None`: as the owner chose on /account.
    pub transcribe: Option<bool>,
    /// A radio call: its facts, stored with the new track; a call stored
    /// before (same facts and content) is answered with the earlier one.
    pub call: Option<app::calls::CallFacts>,
}

impl Incoming {
    /// A new private track of `owner_id`'s, as nothing more was said.
    pub fn new_track(owner_id: i64) -> Self {
        Incoming {
            owner_id,
            title: None,
            filename: None,
            tags: None,
            visibility: None,
            target: Target::NewTrack,
            reservation: None,
            joined_parts: Vec::new(),
            transcribe: None,
            call: None,
        }
    }
}

/// What the receiver already knows of the complete file it hands over, so
/// that finalizing does not read it again.
#[derive(Debug, Clone)]
pub struct Received {
    /// sha256 of the file, hex; computed over the same bytes as they were written.
    pub sha256: String,
    pub size: u64,
    /// The file's data is already fsynced.
    pub synced: bool,
}

pub const MAX_TITLE: usize = 200;
pub const MAX_ROLE: usize = 40;
pub const MAX_TAGS: usize = 500;
pub const MAX_FILENAME: usize = 255;

/// Where the complete file of an upload is.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A file in the local spool, removed once stored.
    Spool(&'a Path),
    /// Tus upload `id`'s file assembled on object storage (`Staging`),
    /// copied into its content address inside the bucket; its hash and size
    /// must be known.
    Staged(&'a str),
}

/// Stores the complete file at `file` (which is removed afterwards) and
/// writes its rows. With `upload_id`, the tus upload is marked done in the
/// same transaction; if another request finalized it first, its result is
/// returned and nothing is written twice.
pub async fn ingest(
    state: &ServerState,
    file: &Path,
    incoming: &Incoming,
    upload_id: Option<&str>,
    received: Option<Received>,
) -> Result<Ingested, AppError> {
    ingest_from(state, Source::Spool(file), incoming, upload_id, received).await
}

/// `ingest`, from a file wherever it is.
pub async fn ingest_from(
    state: &ServerState,
    source: Source<'_>,
    incoming: &Incoming,
    upload_id: Option<&str>,
    received: Option<Received>,
) -> Result<Ingested, AppError> {
    // 1. Know the content.
    let known = match (received, source) {
        (Some(r), _) => r,
        (None, Source::Spool(file)) => {
            let (sha256, size) = hash_file(file)
                .await
                .map_err(|e| AppError::io("hashing an upload", e))?;
            Received {
                sha256,
                size,
                synced: false,
            }
        }
        (None, Source::Staged(_)) => {
            return Err(AppError::io(
                "finalizing an upload",
                std::io::Error::other("the hash of a staged upload must be known"),
            ))
        }
    };
    // 2. Store the bytes.
    let storage = &state.storage;
    let sha256 = known.sha256.as_str();
    let stored = |synced| async move {
        match source {
            Source::Spool(file) => storage.put_object(file, sha256, synced).await,
            Source::Staged(id) => match storage.staging() {
                Some(staging) => staging.adopt(id, sha256).await,
                None => Err(std::io::Error::other("no object storage here")),
            },
        }
    };
    let key = stored(known.synced)
        .await
        .map_err(|e| AppError::io("storing an upload", e))?;
    let transcribe = wants_transcript(state, incoming).await?;
    // 3. Lock the owner and the content; the bytes are there under the lock.
    let mut tx = Finalizing::begin(&state.db, incoming.owner_id, &known.sha256).await?;
    if !storage.exists(&key).await {
        stored(true)
            .await
            .map_err(|e| AppError::io("storing an upload", e))?;
    }
    // A call sent again is the call stored before.
    if let Some(call) = &incoming.call {
        if let Some(earlier) = tx.existing_call(call, &known.sha256).await? {
            drop(tx);
            remove_spooled(state, source).await;
            if let Some(r) = &incoming.reservation {
                app::uploads::quota::release(&state.db, r).await;
            }
            return Ok(earlier);
        }
    }
    // 4. Claim the upload.
    if let Some(id) = upload_id {
        if !tx.claim_upload(id, known.size as i64).await? {
            drop(tx);
            remove_spooled(state, source).await;
            return app::uploads::db::finished_result(&state.db, id)
                .await?
                .ok_or_else(|| {
                    AppError::Conflict("this upload is being finalized by another request".into())
                });
        }
    }
    // 5. Find or insert the asset.
    let asset_id = find_or_insert_asset(&mut tx, incoming, &key, &known).await?;
    // 6. Place it.
    let done = place(&mut tx, incoming, asset_id).await?;
    if let Some(call) = &incoming.call {
        tx.insert_call(done.track_id, call, &known.sha256).await?;
    }
    // The transcript, when asked for (or the owner's default) and possible.
    if transcribe {
        tx.enqueue(&app::transcripts::service::job(
            done.asset_id,
            Some(incoming.owner_id),
            false,
            false,
        ))
        .await?;
    }
    // 7. End what was in flight; record; commit.
    if let Some(r) = &incoming.reservation {
        tx.end_reservation(r).await?;
    }
    tx.delete_parts(&incoming.joined_parts).await?;
    if let Some(id) = upload_id {
        tx.record_result(id, &done).await?;
    }
    tx.commit().await?;
    remove_spooled(state, source).await;
    state.usage.invalidate(incoming.owner_id).await;
    match incoming.target {
        Target::NewTrack => {
            let public = incoming.visibility == Some(Visibility::Public);
            let kind = app::changes::Kind::Created;
            app::changes::record(&state.db, done.track_id, incoming.owner_id, kind, public).await
        }
        _ => {
            let kind = app::changes::Kind::Updated;
            app::changes::record_track(&state.db, done.track_id, kind, false).await
        }
    }
    state.caches.changed(Some(done.track_id)).await;
    state.queue.wake().notify_waiters();
    Ok(done)
}

/// Whether the upload asks for a transcript: its own `transcribe` field,
/// else the owner's default; never when transcription is off here.
async fn wants_transcript(state: &ServerState, incoming: &Incoming) -> Result<bool, AppError> {
    if state.settings.stt.is_none() || matches!(incoming.target, Target::Stem { .. }) {
        return Ok(false);
    }
    match incoming.transcribe {
        Some(on) => Ok(on),
        None => app::transcripts::usage::transcribe_uploads(&state.db, incoming.owner_id).await,
    }
}

/// `transcribe`: 1 / true / yes, or 0 / false / no (anything else: unsaid).
pub fn transcribe_from(pairs: &[(String, String)]) -> Option<bool> {
    match field(pairs, &["transcribe"])?.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Removes what the file was received into: the spool file, or the staged
/// upload's objects (the sweeper removes them if this fails).
async fn remove_spooled(state: &ServerState, source: Source<'_>) {
    let file = match source {
        Source::Spool(file) => file,
        Source::Staged(id) => {
            if let Some(staging) = state.storage.staging() {
                if let Err(e) = staging.discard(id, None).await {
                    tracing::warn!(upload = id, error = %e, "could not remove a staged upload");
                }
            }
            return;
        }
    };
    if let Err(e) = tokio::fs::remove_file(file).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %file.display(), error = %e, "could not remove a spooled upload");
        }
    }
}

/// One asset per owner and content: the same file uploaded twice is one
/// file. A new one gets its metadata job.
async fn find_or_insert_asset(
    tx: &mut Finalizing,
    incoming: &Incoming,
    key: &str,
    known: &Received,
) -> Result<i64, AppError> {
    if let Some(id) = tx.existing_asset(&known.sha256).await? {
        return Ok(id);
    }
    let filename: Option<String> = incoming
        .filename
        .as_deref()
        .map(|f| f.chars().take(MAX_FILENAME).collect());
    let id = tx
        .insert_asset(&NewAsset {
            storage_key: key,
            size: known.size as i64,
            sha256: &known.sha256,
            filename: filename.as_deref(),
        })
        .await?;
    tx.enqueue(&NewJob::for_asset(app::jobs::METADATA, id).priority(10))
        .await?;
    Ok(id)
}

/// Inserts what the upload becomes: a track, a version or a stem.
async fn place(
    tx: &mut Finalizing,
    incoming: &Incoming,
    asset_id: i64,
) -> Result<Ingested, AppError> {
    let asset: AssetStatus = tx.asset_status(asset_id).await?;
    let ingested = |track_id, version_id, stem_id| Ingested {
        track_id,
        version_id,
        asset_id,
        stem_id,
    };
    Ok(match &incoming.target {
        Target::NewTrack => {
            let (title, title_from_name) = title_of(incoming);
            let tags: String = incoming
                .tags
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(MAX_TAGS)
                .collect();
            let visibility = incoming.visibility.unwrap_or(Visibility::Private);
            let (track_id, version_id) = tx
                .insert_track(
                    &slugify(&title),
                    &title,
                    title_from_name,
                    &tags,
                    visibility,
                    asset_id,
                    &asset,
                )
                .await?;
            ingested(track_id, version_id, None)
        }
        Target::Version { track_id } => {
            let version_id = tx.insert_version(*track_id, asset_id, &asset).await?;
            ingested(*track_id, version_id, None)
        }
        Target::Stem { version_id, role } => {
            let (track_id, stem_id) = tx.insert_stem(*version_id, role, asset_id).await?;
            ingested(track_id, *version_id, Some(stem_id))
        }
    })
}

/// The title given, else one made from the file name, else "Untitled";
/// and whether it was made (a title in the file's tags then replaces it).
fn title_of(incoming: &Incoming) -> (String, bool) {
    let given = incoming.title.clone().filter(|t| !t.trim().is_empty());
    let made = given.is_none();
    let title = given
        .or_else(|| incoming.filename.as_deref().map(title_from_filename))
        .unwrap_or_else(|| "Untitled".into());
    (title.trim().chars().take(MAX_TITLE).collect(), made)
}

/// The first non-blank value among `keys` in name/value pairs (multipart
/// fields or tus `Upload-Metadata`), trimmed.
pub fn field<'a>(pairs: &'a [(String, String)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        pairs
            .iter()
            .find(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    })
}

/// What an upload becomes, from its fields: `target` = `track` (default),
/// `version` with `track_id`, or `stem` with `version_id` and `role`.
pub fn target_from(pairs: &[(String, String)]) -> Result<Target, AppError> {
    let id = |keys: &[&str]| -> Result<i64, AppError> {
        field(pairs, keys)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| AppError::bad_request(format!("\"{}\" must be an id", keys[0])))
    };
    match field(pairs, &["target", "kind"]).unwrap_or("track") {
        "track" => Ok(Target::NewTrack),
        "version" => Ok(Target::Version {
            track_id: id(&["track_id", "track"])?,
        }),
        "stem" => {
            let role = field(pairs, &["role"]).unwrap_or_default().to_lowercase();
            if role.is_empty() || role.chars().count() > MAX_ROLE {
                return Err(AppError::bad_request(
                    "a stem needs a \"role\" (drums, vocals, …) of at most 40 characters",
                ));
            }
            Ok(Target::Stem {
                version_id: id(&["version_id", "version"])?,
                role,
            })
        }
        other => Err(AppError::bad_request(format!(
            "unknown target \"{}\" (track, version or stem)",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// `visibility`: private (default), unlisted or public.
pub fn visibility_from(pairs: &[(String, String)]) -> Result<Option<Visibility>, AppError> {
    match field(pairs, &["visibility"]) {
        None => Ok(None),
        Some(v) => Visibility::parse(&v.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                AppError::bad_request("visibility must be \"private\", \"unlisted\" or \"public\"")
            }),
    }
}

/// "my_song-final.mp3" → "my song final".
pub fn title_from_filename(name: &str) -> String {
    let base = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let t: String = base
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        "Untitled".into()
    } else {
        t
    }
}

/// A URL-safe, unique slug: the title's words plus a random suffix.
pub fn slugify(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
        if s.len() >= 60 {
            break;
        }
    }
    let s = s.trim_end_matches('-');
    // 40 random bits: a clash is rare even among 100,000 calls of one
    // title, and the insert makes the slug longer when one happens.
    let suffix: String = crate::storage::random_name().chars().take(10).collect();
    if s.is_empty() {
        format!("track-{suffix}")
    } else {
        format!("{s}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_slugs() {
        assert_eq!(title_from_filename("my_song-final.mp3"), "my song final");
        assert_eq!(title_from_filename(".mp3"), ".mp3");
        let s = slugify("Hello, World! Ünïcode");
        assert!(s.starts_with("hello-world-"), "{s}");
        assert!(slugify("!!!").starts_with("track-"));
    }
}
