//! SQL for tracks: keyset-paginated listings (one index per order and scope),
//! full-text search (FTS5 on SQLite, a GIN-indexed tsvector on PostgreSQL),
//! the track page in one query, and the owner's edits.

use sqlx::Row;

use super::{
    search_words, AssetInfo, ListQuery, Sort, TrackDetail, TrackPage, TrackSummary, VersionInfo,
    Visibility,
};
use crate::db::{Backend, Db};
use crate::errors::AppError;

mod stems;

pub use stems::{stems_of, stems_of_track};

/// Where a page starts: the sort key and id of the last row shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Newest { created_at: i64, id: i64 },
    Title { key: String, id: i64 },
    Duration { duration: i64, id: i64 },
}

impl Cursor {
    pub fn encode(&self) -> String {
        match self {
            Cursor::Newest { created_at, id } => format!("n{created_at}_{id}"),
            Cursor::Duration { duration, id } => format!("d{duration}_{id}"),
            Cursor::Title { key, id } => format!("t{id}_{}", hex::encode(key.as_bytes())),
        }
    }

    /// `None` for anything this server did not write, or for another order.
    pub fn decode(s: &str, sort: Sort) -> Option<Cursor> {
        let (tag, rest) = s.split_at_checked(1)?;
        let (a, b) = rest.split_once('_')?;
        match (tag, sort) {
            ("n", Sort::Newest) => Some(Cursor::Newest {
                created_at: a.parse().ok()?,
                id: b.parse().ok()?,
            }),
            ("d", Sort::Duration) => Some(Cursor::Duration {
                duration: a.parse().ok()?,
                id: b.parse().ok()?,
            }),
            ("t", Sort::Title) => Some(Cursor::Title {
                id: a.parse().ok()?,
                key: String::from_utf8(hex::decode(b).ok()?).ok()?,
            }),
            _ => None,
        }
    }
}

/// The search condition for this backend, and its bound text.
fn search_clause(backend: Backend, q: &str, param: usize) -> Option<(String, String)> {
    let words = search_words(q);
    if words.is_empty() {
        return None;
    }
    Some(match backend {
        // A title, tag or file name, or words spoken in the primary file.
        Backend::Sqlite => (
            format!(
                "(t.id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ${param}) \
                 OR t.primary_version_id IN (SELECT v.id FROM track_versions v \
                   JOIN transcript_segments s ON s.asset_id = v.asset_id \
                   WHERE s.id IN (SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH ${param})))"
            ),
            words
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Backend::Postgres => (
            format!(
                "(t.search @@ to_tsquery('simple', ${param}) \
                 OR t.primary_version_id IN (SELECT v.id FROM track_versions v \
                   JOIN transcript_segments s ON s.asset_id = v.asset_id \
                   WHERE s.search @@ to_tsquery('simple', ${param})))"
            ),
            words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" & "),
        ),
    })
}

enum Bind {
    Int(i64),
    Text(String),
}

/// The listing's SQL and its parameters.
fn list_query(
    backend: Backend,
    owner: Option<i64>,
    q: &ListQuery,
) -> Result<(String, Vec<Bind>), AppError> {
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Cursor::decode(c, q.sort).ok_or_else(|| AppError::bad_request("bad page cursor"))?,
        ),
        None => None,
    };
    let size = q.page_size();
    let mut binds: Vec<Bind> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    match owner {
        Some(id) => {
            binds.push(Bind::Int(id));
            conds.push(format!("t.owner_id = ${}", binds.len()));
        }
        None => conds.push("t.visibility = 'public'".into()),
    }
    if let Some((cond, text)) = search_clause(backend, &q.q, binds.len() + 1) {
        binds.push(Bind::Text(text));
        conds.push(cond);
    }
    let key_expr = sort_key(q.sort);
    let order = match q.sort {
        Sort::Newest => "t.created_at DESC, t.id DESC",
        Sort::Title => "lower(t.title), t.id",
        Sort::Duration => "COALESCE(t.duration_ms, 0) DESC, t.id DESC",
    };
    if let Some(c) = &after {
        let n = binds.len();
        let (op, key, id) = match c {
            Cursor::Newest { created_at, id } => ("<", Bind::Int(*created_at), *id),
            Cursor::Duration { duration, id } => ("<", Bind::Int(*duration), *id),
            Cursor::Title { key, id } => (">", Bind::Text(key.clone()), *id),
        };
        binds.push(key);
        binds.push(Bind::Int(id));
        conds.push(format!("({key_expr}, t.id) {op} (${}, ${})", n + 1, n + 2));
    }
    let sql = format!(
        "SELECT t.id, t.slug, t.title, t.tags, t.duration_ms, t.visibility, t.created_at, \
         t.artist, t.art_token, (SELECT a.mini_wave FROM track_versions v JOIN assets a ON a.id = v.asset_id \
         WHERE v.id = t.primary_version_id) AS wave, {key_expr} AS sort_key FROM tracks t WHERE {} ORDER BY {order} LIMIT {}",
        conds.join(" AND "),
        size + 1
    );
    Ok((sql, binds))
}

fn sort_key(sort: Sort) -> &'static str {
    match sort {
        Sort::Newest => "t.created_at",
        Sort::Title => "lower(t.title)",
        Sort::Duration => "COALESCE(t.duration_ms, 0)",
    }
}

fn bound<'q>(
    sql: &'q str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
        };
    }
    query
}

/// SQLite's plan for a listing, one line per step (tests check that no
/// listing scans the tracks table or sorts it).
pub async fn explain_list(
    db: &Db,
    owner: Option<i64>,
    q: &ListQuery,
) -> Result<Vec<String>, AppError> {
    let (sql, binds) = list_query(db.backend(), owner, q)?;
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    let rows = bound(&sql, binds).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(|r| r.get::<String, _>("detail")).collect())
}

/// One page of a listing. `owner` is the viewer for "my tracks" (every
/// visibility), `None` for the public list.
pub async fn list(db: &Db, owner: Option<i64>, q: &ListQuery) -> Result<TrackPage, AppError> {
    let size = q.page_size();
    let (sql, binds) = list_query(db.backend(), owner, q)?;
    let query = bound(&sql, binds);
    let rows = query.fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > size;
    let mut next = None;
    let mut items = Vec::with_capacity(rows.len().min(size as usize));
    for (i, r) in rows.iter().enumerate() {
        if i as i64 == size {
            break;
        }
        let t = TrackSummary {
            id: r.get("id"),
            slug: r.get("slug"),
            title: r.get("title"),
            tags: r.get("tags"),
            duration_ms: r.get("duration_ms"),
            visibility: Visibility::parse(r.get::<&str, _>("visibility"))
                .unwrap_or(Visibility::Private),
            created_at: r.get("created_at"),
            artist: r.get("artist"),
            art: r.get("art_token"),
            wave: r.get("wave"),
            hit: None,
        };
        if more && i as i64 == size - 1 {
            next = Some(
                match q.sort {
                    Sort::Newest => Cursor::Newest {
                        created_at: t.created_at,
                        id: t.id,
                    },
                    Sort::Duration => Cursor::Duration {
                        duration: r.get("sort_key"),
                        id: t.id,
                    },
                    Sort::Title => Cursor::Title {
                        key: r.get("sort_key"),
                        id: t.id,
                    },
                }
                .encode(),
            );
        }
        items.push(t);
    }
    // Where the words were spoken, for tracks found by their transcript.
    let words = search_words(&q.q);
    if !words.is_empty() && !items.is_empty() {
        let ids: Vec<i64> = items.iter().map(|t| t.id).collect();
        let mut hits = crate::transcripts::search::hits(db, &ids, &words).await?;
        for t in &mut items {
            t.hit = hits.remove(&t.id);
        }
    }
    Ok(TrackPage { items, next })
}

const ASSET_COLUMNS: &str = "a.id AS asset_id, a.size_bytes, a.mime, a.original_filename, a.duration_ms AS a_duration_ms, \
     a.sample_rate, a.channels, a.bit_depth, a.codec, a.bitrate, a.container, a.processing_error, a.peaks_at, a.preview_at, a.mini_wave";

fn asset_of(r: &sqlx::any::AnyRow) -> AssetInfo {
    AssetInfo {
        id: r.get("asset_id"),
        size_bytes: r.get("size_bytes"),
        mime: r.get("mime"),
        original_filename: r.get("original_filename"),
        duration_ms: r.get("a_duration_ms"),
        sample_rate: r.get("sample_rate"),
        channels: r.get("channels"),
        bit_depth: r.get("bit_depth"),
        codec: r.get("codec"),
        bitrate: r.get("bitrate"),
        container: r.get("container"),
        processing_error: r.get("processing_error"),
        peaks_ready: r.get::<Option<i64>, _>("peaks_at").is_some(),
        preview_ready: r.get::<Option<i64>, _>("preview_at").is_some(),
        mini_wave: r.get("mini_wave"),
    }
}

/// A track with its versions and their files, in one query (one row per
/// version), plus the jobs working on the primary file. Stems are loaded
/// separately, only when someone opens them.
pub async fn get_detail(db: &Db, id: i64) -> Result<Option<TrackDetail>, AppError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT t.id AS track_id, t.owner_id, t.slug, t.title, t.tags, t.visibility, t.duration_ms, \
         t.primary_version_id, t.created_at AS t_created_at, t.updated_at, \
         t.artist, t.album, t.album_artist, t.track_no, t.disc_no, t.year, t.genre, t.comment, t.art_token, \
         (SELECT COUNT(*) FROM stems s WHERE s.version_id = t.primary_version_id) AS stem_count, \
         v.id AS version_id, v.version_number, v.label, v.status, v.created_at AS v_created_at, {ASSET_COLUMNS} \
         FROM tracks t LEFT JOIN track_versions v ON v.track_id = t.id LEFT JOIN assets a ON a.id = v.asset_id \
         WHERE t.id = $1 ORDER BY v.version_number"
    )))
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    let Some(t) = rows.first() else {
        return Ok(None);
    };
    let versions: Vec<VersionInfo> = rows
        .iter()
        .filter(|r| r.get::<Option<i64>, _>("version_id").is_some())
        .map(|r| VersionInfo {
            id: r.get("version_id"),
            number: r.get("version_number"),
            label: r.get("label"),
            status: r.get("status"),
            created_at: r.get("v_created_at"),
            asset: asset_of(r),
            download_url: None,
            playback: None,
        })
        .collect();
    let primary: Option<i64> = t.get("primary_version_id");
    let primary_version = versions
        .iter()
        .find(|v| Some(v.id) == primary)
        .or(versions.last());
    let (jobs, transcript) = match primary_version {
        Some(v) => (
            crate::jobs::read::for_subject(db, &crate::jobs::asset_subject(v.asset.id)).await?,
            crate::transcripts::db::progress_of(db, v.asset.id).await?,
        ),
        None => (Vec::new(), None),
    };
    Ok(Some(TrackDetail {
        id: t.get("track_id"),
        owner_id: t.get("owner_id"),
        slug: t.get("slug"),
        title: t.get("title"),
        tags: t.get("tags"),
        visibility: Visibility::parse(t.get::<&str, _>("visibility"))
            .unwrap_or(Visibility::Private),
        duration_ms: t.get("duration_ms"),
        status: primary_version
            .map(|v| v.status.clone())
            .unwrap_or_else(|| "processing".into()),
        error: primary_version.and_then(|v| v.asset.processing_error.clone()),
        primary_version_id: primary_version.map(|v| v.id),
        stem_count: t.get("stem_count"),
        created_at: t.get("t_created_at"),
        updated_at: t.get("updated_at"),
        versions,
        jobs,
        can_edit: false,
        playback: None,
        transcript,
        call: crate::calls::info(db, id).await?,
        about: about_of(t),
        art: t.get("art_token"),
        art_upload: crate::media::library::uploaded_art_state(db, id).await?,
        resume_ms: None,
    }))
}

/// A track row's artist, album and the rest.
fn about_of(t: &sqlx::any::AnyRow) -> crate::media::FileTags {
    let num = |c: &str| {
        t.get::<Option<i64>, _>(c)
            .and_then(|n| u32::try_from(n).ok())
    };
    crate::media::FileTags {
        title: String::new(),
        artist: t.get("artist"),
        album: t.get("album"),
        album_artist: t.get("album_artist"),
        track_no: num("track_no"),
        disc_no: num("disc_no"),
        year: t
            .get::<Option<i64>, _>("year")
            .and_then(|n| i32::try_from(n).ok()),
        genre: t.get("genre"),
        comment: t.get("comment"),
    }
}

/// Owner and track of a version, for permission checks.
pub async fn version_owner(
    db: &Db,
    version_id: i64,
) -> Result<Option<(i64, i64, String)>, AppError> {
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT t.id, t.owner_id, t.visibility FROM track_versions v JOIN tracks t ON t.id = v.track_id WHERE v.id = $1",
    )
    .bind(version_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row)
}

/// Title, tags and visibility, as the owner edits them.
pub async fn update(
    db: &Db,
    id: i64,
    title: &str,
    tags: &str,
    visibility: Visibility,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE tracks SET title = $1, tags = $2, visibility = $3, updated_at = $4, \
         title_from_name = 0 WHERE id = $5",
    )
    .bind(title)
    .bind(tags)
    .bind(visibility.as_str())
    .bind(crate::db::now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The owner's artist, album and the rest (`about.title` unused). Once
/// edited, the file's tags are never applied over them.
pub async fn update_about(
    db: &Db,
    id: i64,
    about: &crate::media::FileTags,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE tracks SET artist = $1, album = $2, album_artist = $3, track_no = $4, disc_no = $5, \
         year = $6, genre = $7, comment = $8, file_tags_applied = 1, updated_at = $9 WHERE id = $10",
    )
    .bind(&about.artist)
    .bind(&about.album)
    .bind(&about.album_artist)
    .bind(about.track_no.map(i64::from))
    .bind(about.disc_no.map(i64::from))
    .bind(about.year.map(i64::from))
    .bind(&about.genre)
    .bind(&about.comment)
    .bind(crate::db::now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Makes `version_id` the track's primary version (its duration follows).
pub async fn set_primary(db: &Db, track_id: i64, version_id: i64) -> Result<(), AppError> {
    let done = sqlx::query(
        "UPDATE tracks SET primary_version_id = $1, updated_at = $2, \
         duration_ms = (SELECT a.duration_ms FROM track_versions v JOIN assets a ON a.id = v.asset_id WHERE v.id = $1) \
         WHERE id = $3 AND EXISTS (SELECT 1 FROM track_versions WHERE id = $1 AND track_id = $3)",
    )
    .bind(version_id)
    .bind(crate::db::now_ms())
    .bind(track_id)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Deletes a track with its versions and stems in one transaction. Files no
/// other version or stem uses lose their asset row, and their size leaves the
/// owner's usage; a `purge` job then removes the stored files nothing refers
/// to (a crash before it runs leaves files the next purge or sweep removes).
pub async fn delete(db: &Db, id: i64) -> Result<(), AppError> {
    let mut tx = db.pool().begin().await?;
    // Take the write lock first (SQLite), then read.
    let touched = sqlx::query("UPDATE tracks SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if touched.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    let owner: i64 = sqlx::query_scalar("SELECT owner_id FROM tracks WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let assets: Vec<i64> = sqlx::query_scalar(
        "SELECT asset_id FROM track_versions WHERE track_id = $1 \
         UNION SELECT s.asset_id FROM stems s JOIN track_versions v ON v.id = s.version_id WHERE v.track_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM tracks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let mut freed = 0i64;
    let mut shas = Vec::new();
    for asset in assets {
        let uses: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM track_versions WHERE asset_id = $1) + \
             (SELECT COUNT(*) FROM stems WHERE asset_id = $1)",
        )
        .bind(asset)
        .fetch_one(&mut *tx)
        .await?;
        if uses > 0 {
            continue;
        }
        let row: Option<(i64, String)> =
            sqlx::query_as("DELETE FROM assets WHERE id = $1 RETURNING size_bytes, sha256")
                .bind(asset)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((size, sha)) = row {
            freed += size;
            shas.push(sha);
        }
    }
    sqlx::query(
        "UPDATE users SET storage_used_bytes = CASE WHEN storage_used_bytes > $1 \
         THEN storage_used_bytes - $1 ELSE 0 END WHERE id = $2",
    )
    .bind(freed)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    if !shas.is_empty() {
        let payload = serde_json::json!({ "sha256": shas }).to_string();
        crate::jobs::db::enqueue_in(
            &mut tx,
            &crate::jobs::db::NewJob::new(crate::jobs::PURGE, payload).priority(-5),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The content hash of asset `id` (404 when there is none).
pub async fn asset_sha256(db: &Db, id: i64) -> Result<String, AppError> {
    asset_sha256_opt(db, id).await?.ok_or(AppError::NotFound)
}

pub async fn asset_sha256_opt(db: &Db, id: i64) -> Result<Option<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT sha256 FROM assets WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}
