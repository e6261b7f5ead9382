//! Finding tracks by words spoken in them: where in each track the words
//! are said (the first matching segment), with the words around them.

use std::collections::HashMap;

use sqlx::Row;

use super::TranscriptHit;
use crate::db::{Backend, Db};
use crate::errors::AppError;

/// For each track of `track_ids` whose primary file's transcript matches
/// every word of `words` (as prefixes), the first matching moment and the
/// words around it.
pub async fn hits(
    db: &Db,
    track_ids: &[i64],
    words: &[String],
) -> Result<HashMap<i64, TranscriptHit>, AppError> {
    if track_ids.is_empty() || words.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = track_ids.iter().map(i64::to_string).collect();
    let ids = ids.join(",");
    let (sql, term) = match db.backend() {
        Backend::Sqlite => (
            format!(
                "SELECT t.id AS track_id, s.start_ms, \
                 snippet(transcript_fts, 0, char(57344), char(57345), '…', 12) AS snippet \
                 FROM transcript_fts JOIN transcript_segments s ON s.id = transcript_fts.rowid \
                 JOIN track_versions v ON v.asset_id = s.asset_id JOIN tracks t ON t.primary_version_id = v.id \
                 WHERE transcript_fts MATCH $1 AND t.id IN ({ids}) ORDER BY t.id, s.start_ms"
            ),
            words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
        ),
        Backend::Postgres => (
            format!(
                "SELECT t.id AS track_id, s.start_ms, \
                 ts_headline('simple', s.text, to_tsquery('simple', $1), \
                 'StartSel=' || chr(57344) || ', StopSel=' || chr(57345) || ', MaxWords=14, MinWords=6') AS snippet \
                 FROM transcript_segments s JOIN track_versions v ON v.asset_id = s.asset_id \
                 JOIN tracks t ON t.primary_version_id = v.id \
                 WHERE s.search @@ to_tsquery('simple', $1) AND t.id IN ({ids}) ORDER BY t.id, s.start_ms"
            ),
            words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
        ),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(term)
        .fetch_all(db.pool())
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        let id: i64 = r.get("track_id");
        out.entry(id)
            .or_insert_with(|| marked(r.get("start_ms"), &r.get::<String, _>("snippet")));
    }
    Ok(out)
}

/// Start and end of a match in the database's snippet (private-use
/// characters, which no transcript holds).
const MARK_START: char = '\u{e000}';
const MARK_END: char = '\u{e001}';

/// A hit from a marked snippet: the plain text, the words matched and
/// where they are in it.
fn marked(start_ms: i64, snippet: &str) -> TranscriptHit {
    let mut plain = String::with_capacity(snippet.len());
    let mut matched: Vec<String> = Vec::new();
    let mut marks: Vec<[u32; 2]> = Vec::new();
    let mut at = 0u32;
    let mut open: Option<(u32, usize)> = None;
    for c in snippet.chars() {
        match c {
            MARK_START => open = Some((at, plain.len())),
            MARK_END => {
                if let Some((from, byte)) = open.take() {
                    if at > from {
                        marks.push([from, at]);
                        let w = plain[byte..].trim().to_lowercase();
                        if !w.is_empty() && !matched.contains(&w) {
                            matched.push(w);
                        }
                    }
                }
            }
            c => {
                plain.push(c);
                at += 1;
            }
        }
    }
    TranscriptHit {
        start_ms,
        snippet: plain,
        matched,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::marked;

    #[test]
    fn snippets_lose_their_marks() {
        let h = marked(
            1500,
            "… and then \u{e000}Kilo\u{e001} said \u{e000}kilo\u{e001} [Music]",
        );
        assert_eq!(h.snippet, "… and then Kilo said kilo [Music]");
        assert_eq!(h.matched, ["kilo"]);
        // Character ranges (the ellipsis is one).
        assert_eq!(h.marks, [[11, 15], [21, 25]]);
        assert_eq!(h.start_ms, 1500);
        assert!(marked(0, "no marks").matched.is_empty());
    }
}
