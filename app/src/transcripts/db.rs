//! The transcript tables: a transcript's progress (its chunk plan and the
//! answer of each chunk, stored as soon as it returns), the finished
//! segments and words, and the owner's corrections (minutes per month are
//! in `usage`, search hits in `search`).

use std::collections::HashMap;

use sqlx::Row;

use super::{Segment, Transcript, TranscriptProgress};
use crate::db::{now_ms, Backend, Db};
use crate::errors::AppError;

/// A finished segment or word to store (times in ms from the file's start).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSegment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    /// Kept from the owner's correction (its edit time), not the provider.
    pub edited_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewWord {
    pub segment_idx: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub word: String,
}

/// Where a running transcript stands.
#[derive(Debug, Clone)]
pub struct Progress {
    pub status: String,
    /// The chunk plan: (start_ms, end_ms) per chunk.
    pub plan: Option<Vec<(i64, i64)>>,
    pub done: Vec<i64>,
}

/// What `begin` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Transcribe (from the first chunk not yet answered).
    Work,
    /// A finished transcript is the answer to a request that did not say
    /// "again" (an upload of the same content, the admin's bulk run).
    Done,
    /// Another job is transcribing this file right now.
    Busy,
}

/// Starts (or continues) the transcript of `asset_id` for job `job_id`. A
/// finished or failed transcript, or a redo asked by another job, starts
/// afresh (its old plan and chunk answers forgotten; the finished segments
/// stay until the new ones replace them); the same job coming back after a
/// retry or a crash continues where it stopped. One job at a time works on
/// a file: while another one's attempt runs, this one is `Busy` (or `Done`
/// when it did not ask for a redo: the running one answers it).
pub async fn begin(
    db: &Db,
    asset_id: i64,
    model: &str,
    requested_by: Option<i64>,
    redo: bool,
    job_id: i64,
) -> Result<Begin, AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // A write first: SQLite's write lock (so the read below sees the latest
    // commit), PostgreSQL's row lock when the row exists.
    sqlx::query("UPDATE transcripts SET updated_at = updated_at WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut *tx)
        .await?;
    let exists: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT status, job_id FROM transcripts WHERE asset_id = $1")
            .bind(asset_id)
            .fetch_optional(&mut *tx)
            .await?;
    match exists {
        None => {
            sqlx::query(
                "INSERT INTO transcripts (asset_id, status, model, requested_by, job_id, created_at, updated_at) \
                 VALUES ($1, 'running', $2, $3, $4, $5, $5)",
            )
            .bind(asset_id)
            .bind(model)
            .bind(requested_by)
            .bind(job_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Some((status, _)) if status == "done" && !redo => return Ok(Begin::Done),
        Some((status, Some(other)))
            if status == "running" && other != job_id && running(&mut tx, other).await? =>
        {
            return Ok(if redo { Begin::Busy } else { Begin::Done });
        }
        Some((status, by_job)) => {
            let fresh = status != "running" || (redo && by_job != Some(job_id));
            if fresh {
                sqlx::query("DELETE FROM transcript_chunks WHERE asset_id = $1")
                    .bind(asset_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE transcripts SET status = 'running', model = $1, error = NULL, updated_at = $2, \
                 requested_by = COALESCE($3, requested_by), job_id = $4, \
                 plan = CASE WHEN $5 = 1 THEN NULL ELSE plan END, \
                 chunks_total = CASE WHEN $5 = 1 THEN 0 ELSE chunks_total END, \
                 chunks_done = CASE WHEN $5 = 1 THEN 0 ELSE chunks_done END WHERE asset_id = $6",
            )
            .bind(model)
            .bind(now)
            .bind(requested_by)
            .bind(job_id)
            .bind(i64::from(fresh))
            .bind(asset_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Begin::Work)
}

/// Whether job `id` has an attempt running.
async fn running(tx: &mut sqlx::AnyConnection, id: i64) -> Result<bool, AppError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(state.as_deref() == Some("running"))
}

pub async fn progress(db: &Db, asset_id: i64) -> Result<Option<Progress>, AppError> {
    let row = sqlx::query("SELECT status, plan FROM transcripts WHERE asset_id = $1")
        .bind(asset_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(None) };
    let plan: Option<String> = r.get("plan");
    let done: Vec<i64> =
        sqlx::query_scalar("SELECT idx FROM transcript_chunks WHERE asset_id = $1 ORDER BY idx")
            .bind(asset_id)
            .fetch_all(db.pool())
            .await?;
    Ok(Some(Progress {
        status: r.get("status"),
        plan: plan.and_then(|p| serde_json::from_str(&p).ok()),
        done,
    }))
}

/// Fixes the chunk plan (the first attempt makes it; later ones keep it).
pub async fn set_plan(db: &Db, asset_id: i64, plan: &[(i64, i64)]) -> Result<(), AppError> {
    let json = serde_json::to_string(plan).map_err(|e| AppError::internal("encoding a plan", e))?;
    let _turn = db.write_turn().await;
    sqlx::query(
        "UPDATE transcripts SET plan = $1, chunks_total = $2, updated_at = $3 WHERE asset_id = $4",
    )
    .bind(json)
    .bind(plan.len() as i64)
    .bind(now_ms())
    .bind(asset_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores one chunk's answer (`result`: the normalized JSON) at once.
pub async fn store_chunk(
    db: &Db,
    asset_id: i64,
    idx: i64,
    span: (i64, i64),
    result: &str,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let insert = match db.backend() {
        Backend::Sqlite => "INSERT OR REPLACE INTO transcript_chunks (asset_id, idx, start_ms, end_ms, result, done_at) VALUES ($1, $2, $3, $4, $5, $6)",
        Backend::Postgres => "INSERT INTO transcript_chunks (asset_id, idx, start_ms, end_ms, result, done_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (asset_id, idx) DO UPDATE SET result = EXCLUDED.result, done_at = EXCLUDED.done_at",
    };
    sqlx::query(insert)
        .bind(asset_id)
        .bind(idx)
        .bind(span.0)
        .bind(span.1)
        .bind(result)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE transcripts SET chunks_done = (SELECT COUNT(*) FROM transcript_chunks WHERE asset_id = $1), \
         updated_at = $2 WHERE asset_id = $1",
    )
    .bind(asset_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every chunk answer so far, in order: (idx, start_ms, result).
pub async fn chunk_results(db: &Db, asset_id: i64) -> Result<Vec<(i64, i64, String)>, AppError> {
    let rows = sqlx::query(
        "SELECT idx, start_ms, result FROM transcript_chunks WHERE asset_id = $1 ORDER BY idx",
    )
    .bind(asset_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("idx"), r.get("start_ms"), r.get("result")))
        .collect())
}

/// The owner's corrections (segments with an edit time), for a merge that
/// keeps them.
pub async fn edited_segments(db: &Db, asset_id: i64) -> Result<Vec<NewSegment>, AppError> {
    let rows = sqlx::query(
        "SELECT start_ms, end_ms, text, edited_at FROM transcript_segments \
         WHERE asset_id = $1 AND edited_at IS NOT NULL ORDER BY idx",
    )
    .bind(asset_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| NewSegment {
            start_ms: r.get("start_ms"),
            end_ms: r.get("end_ms"),
            text: r.get("text"),
            edited_at: r.get("edited_at"),
        })
        .collect())
}

/// The finished transcript: segments and words replace the old ones, the
/// text and language are recorded, and the minutes count for `user_id`
/// this month — one transaction.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one finished transcript"
)]
pub async fn finish(
    db: &Db,
    asset_id: i64,
    language: Option<&str>,
    duration_ms: Option<i64>,
    segments: &[NewSegment],
    words: &[NewWord],
    user_id: Option<i64>,
    billed_seconds: i64,
) -> Result<(), AppError> {
    let now = now_ms();
    let text = segments
        .iter()
        .map(|s| s.text.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM transcript_words WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM transcript_segments WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut *tx)
        .await?;
    // Many rows per statement (a two-hour file has some 20,000 words).
    for (n, batch) in segments.chunks(500).enumerate() {
        let sql = format!(
            "INSERT INTO transcript_segments (asset_id, idx, start_ms, end_ms, text, edited_at) VALUES {}",
            values(batch.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, s) in batch.iter().enumerate() {
            q = q
                .bind(asset_id)
                .bind((n * 500 + i) as i64)
                .bind(s.start_ms)
                .bind(s.end_ms)
                .bind(s.text.clone())
                .bind(s.edited_at);
        }
        q.execute(&mut *tx).await?;
    }
    let mut per_segment: HashMap<i64, i64> = HashMap::new();
    let numbered: Vec<(i64, &NewWord)> = words
        .iter()
        .map(|w| {
            let n = per_segment.entry(w.segment_idx).or_default();
            *n += 1;
            (*n - 1, w)
        })
        .collect();
    for batch in numbered.chunks(500) {
        let sql = format!(
            "INSERT INTO transcript_words (asset_id, segment_idx, idx, start_ms, end_ms, word) VALUES {}",
            values(batch.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (idx, w) in batch {
            q = q
                .bind(asset_id)
                .bind(w.segment_idx)
                .bind(*idx)
                .bind(w.start_ms)
                .bind(w.end_ms)
                .bind(w.word.clone());
        }
        q.execute(&mut *tx).await?;
    }
    // The chunks' answers are in the segments now.
    sqlx::query("DELETE FROM transcript_chunks WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE transcripts SET status = 'done', text = $1, language = $2, duration_ms = $3, \
         error = NULL, updated_at = $4, finished_at = $4 WHERE asset_id = $5",
    )
    .bind(&text)
    .bind(language)
    .bind(duration_ms)
    .bind(now)
    .bind(asset_id)
    .execute(&mut *tx)
    .await?;
    if let Some(user) = user_id {
        super::usage::add(&mut tx, user, now, billed_seconds).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `($1, $2, …), (…)`: `rows` rows of `cols` numbered placeholders.
fn values(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The transcript failed for good, with the reason (also when it failed
/// before it began, e.g. the allowance was used up).
pub async fn fail(db: &Db, asset_id: i64, error: &str) -> Result<(), AppError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO transcripts (asset_id, status, model, error, created_at, updated_at) \
         VALUES ($1, 'failed', '', $2, $3, $3) \
         ON CONFLICT (asset_id) DO UPDATE SET status = 'failed', error = $2, updated_at = $3",
    )
    .bind(asset_id)
    .bind(error.chars().take(2_000).collect::<String>())
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// How far `asset_id`'s transcript is (`None`: never asked).
pub async fn progress_of(db: &Db, asset_id: i64) -> Result<Option<TranscriptProgress>, AppError> {
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT status, chunks_done, chunks_total FROM transcripts WHERE asset_id = $1",
    )
    .bind(asset_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(
        row.map(|(status, chunks_done, chunks_total)| TranscriptProgress {
            status,
            chunks_done,
            chunks_total,
        }),
    )
}

/// `asset_id`'s transcript with its segments (`None`: never asked).
pub async fn get(db: &Db, asset_id: i64) -> Result<Option<Transcript>, AppError> {
    let row = sqlx::query(
        "SELECT status, language, model, duration_ms, chunks_total, chunks_done, error \
         FROM transcripts WHERE asset_id = $1",
    )
    .bind(asset_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let segments = sqlx::query(
        "SELECT idx, start_ms, end_ms, text, edited_at FROM transcript_segments WHERE asset_id = $1 ORDER BY idx",
    )
    .bind(asset_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|s| Segment {
        idx: s.get("idx"),
        start_ms: s.get("start_ms"),
        end_ms: s.get("end_ms"),
        text: s.get("text"),
        edited: s.get::<Option<i64>, _>("edited_at").is_some(),
    })
    .collect();
    Ok(Some(Transcript {
        status: r.get("status"),
        language: r.get("language"),
        model: r.get("model"),
        duration_ms: r.get("duration_ms"),
        segments,
        chunks_total: r.get("chunks_total"),
        chunks_done: r.get("chunks_done"),
        error: r.get("error"),
    }))
}

/// `asset_id`'s words (segment, start, end, word), in order: the JSON
/// export's.
pub async fn words(db: &Db, asset_id: i64) -> Result<Vec<(i64, i64, i64, String)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT segment_idx, start_ms, end_ms, word FROM transcript_words \
         WHERE asset_id = $1 ORDER BY segment_idx, idx",
    )
    .bind(asset_id)
    .fetch_all(db.pool())
    .await?)
}

/// The owner's correction of segment `idx` (kept across re-transcription).
pub async fn edit_segment(db: &Db, asset_id: i64, idx: i64, text: &str) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE transcript_segments SET text = $1, edited_at = $2 WHERE asset_id = $3 AND idx = $4",
    )
    .bind(text)
    .bind(now)
    .bind(asset_id)
    .bind(idx)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    let all: Vec<String> =
        sqlx::query_scalar("SELECT text FROM transcript_segments WHERE asset_id = $1 ORDER BY idx")
            .bind(asset_id)
            .fetch_all(&mut *tx)
            .await?;
    let text = all
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    sqlx::query("UPDATE transcripts SET text = $1, updated_at = $2 WHERE asset_id = $3")
        .bind(text)
        .bind(now)
        .bind(asset_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Primary files of tracks with no transcript (nor one under way), oldest
/// first: what "transcribe every track" queues.
pub async fn assets_without_transcript(db: &Db, limit: i64) -> Result<Vec<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT v.asset_id FROM tracks t JOIN track_versions v ON v.id = t.primary_version_id \
         JOIN assets a ON a.id = v.asset_id \
         WHERE a.metadata_at IS NOT NULL AND a.processing_error IS NULL \
         AND NOT EXISTS (SELECT 1 FROM transcripts x WHERE x.asset_id = v.asset_id AND x.status <> 'failed') \
         ORDER BY v.asset_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}
