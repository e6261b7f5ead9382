//! The calls' SQL: facts stored with the track, key scopes, listings.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{CallPage, CallRow};
use crate::auth::Viewer;
use crate::db::Db;
use crate::errors::AppError;

/// The facts of one call, as received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallFacts {
    pub system_id: i64,
    pub system_label: String,
    pub talkgroup_id: i64,
    pub talkgroup_label: String,
    pub talkgroup_name: String,
    pub talkgroup_group: String,
    pub talkgroup_tag: String,
    /// Hz.
    pub frequency: Option<i64>,
    /// JSON array, as sent (`[{"freq", "pos", …}]`).
    pub frequencies: String,
    pub source: Option<i64>,
    /// JSON array, as sent (`[{"pos", "src", "tag"}]`).
    pub sources: String,
    /// JSON array (`[{"id", "label", "offset"}]`).
    pub units: String,
    /// JSON array of talkgroup ids.
    pub patches: String,
    pub site: Option<i64>,
    /// When the call started (ms since the epoch).
    pub started_at: i64,
}

/// What an API key may upload calls for, as rdio-scanner's keys say it:
/// every system, or some systems each with every talkgroup or some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallScope {
    /// `"*"` (or no scope at all).
    All(String),
    Systems(Vec<SystemScope>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemScope {
    pub id: i64,
    pub talkgroups: Talkgroups,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Talkgroups {
    All(String),
    Some(Vec<i64>),
}

impl CallScope {
    /// Parses a scope: `*`, JSON as above, or the short form
    /// `1:*;2:100,200` (system 1 whole, talkgroups 100 and 200 of system 2).
    pub fn parse(s: &str) -> Result<CallScope, String> {
        let s = s.trim();
        if s == "*" || s.is_empty() {
            return Ok(CallScope::All("*".into()));
        }
        if s.starts_with('[') {
            let scope: CallScope = serde_json::from_str(s).map_err(|e| e.to_string())?;
            return Ok(scope);
        }
        let mut systems = Vec::new();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (id, tgs) = item.split_once(':').unwrap_or((item, "*"));
            let id: i64 = id
                .trim()
                .parse()
                .map_err(|_| format!("\"{id}\" is not a system id"))?;
            let talkgroups = if tgs.trim() == "*" {
                Talkgroups::All("*".into())
            } else {
                Talkgroups::Some(
                    tgs.split(',')
                        .map(|t| {
                            t.trim()
                                .parse::<i64>()
                                .map_err(|_| format!("\"{t}\" is not a talkgroup id"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            };
            systems.push(SystemScope { id, talkgroups });
        }
        Ok(CallScope::Systems(systems))
    }

    /// Whether a call of `system`, `talkgroup` may be uploaded.
    pub fn allows(&self, system: i64, talkgroup: i64) -> bool {
        match self {
            CallScope::All(star) => star == "*",
            CallScope::Systems(list) => list.iter().any(|s| {
                s.id == system
                    && match &s.talkgroups {
                        Talkgroups::All(star) => star == "*",
                        Talkgroups::Some(ids) => ids.contains(&talkgroup),
                    }
            }),
        }
    }
}

/// What an API key says about the calls uploaded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallKey {
    pub owner: Viewer,
    pub scope: CallScope,
    /// Transcribe every call (else as the owner chose).
    pub transcribe: bool,
}

/// The owner, scope and transcription choice of an unrevoked API key (by
/// its hash), for a call upload; `None` when there is no such key.
pub async fn key_for_calls(db: &Db, key_hash: &str) -> Result<Option<CallKey>, AppError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role, k.call_scope, k.transcribe_calls FROM api_keys k \
         JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| {
        let scope = match r.get::<Option<String>, _>("call_scope") {
            None => CallScope::All("*".into()),
            // A scope that no longer parses allows nothing.
            Some(s) => CallScope::parse(&s).unwrap_or(CallScope::Systems(Vec::new())),
        };
        CallKey {
            owner: Viewer {
                id: r.get("id"),
                email: r.get("email"),
                role: crate::auth::db::role_of(r.get::<&str, _>("role")),
            },
            scope,
            transcribe: r.get::<i64, _>("transcribe_calls") == 1,
        }
    }))
}

/// Whether calls uploaded with API key `key_id` of `user_id` are all
/// transcribed; false when the key is not theirs.
pub async fn set_transcribe(
    db: &Db,
    user_id: i64,
    key_id: i64,
    on: bool,
) -> Result<bool, AppError> {
    let n = sqlx::query("UPDATE api_keys SET transcribe_calls = $1 WHERE id = $2 AND user_id = $3")
        .bind(i64::from(on))
        .bind(key_id)
        .bind(user_id)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Sets what API key `key_id` of `user_id` may upload calls for (`None`:
/// everything); false when the key is not theirs.
pub async fn set_scope(
    db: &Db,
    user_id: i64,
    key_id: i64,
    scope: Option<&CallScope>,
) -> Result<bool, AppError> {
    let json = match scope {
        Some(s) => {
            Some(serde_json::to_string(s).map_err(|e| AppError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    let n = sqlx::query("UPDATE api_keys SET call_scope = $1 WHERE id = $2 AND user_id = $3")
        .bind(json)
        .bind(key_id)
        .bind(user_id)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// The call already stored by `owner_id` with these facts and content, if
/// any: (track, version, asset).
pub async fn existing(
    conn: &mut AnyConnection,
    owner_id: i64,
    call: &CallFacts,
    sha256: &str,
) -> Result<Option<(i64, i64, i64)>, AppError> {
    let row = sqlx::query(
        "SELECT c.track_id, v.id AS version_id, v.asset_id FROM calls c \
         JOIN track_versions v ON v.track_id = c.track_id \
         WHERE c.owner_id = $1 AND c.system_id = $2 AND c.talkgroup_id = $3 AND c.started_at = $4 \
         AND c.sha256 = $5 ORDER BY v.id LIMIT 1",
    )
    .bind(owner_id)
    .bind(call.system_id)
    .bind(call.talkgroup_id)
    .bind(call.started_at)
    .bind(sha256)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| (r.get("track_id"), r.get("version_id"), r.get("asset_id"))))
}

/// Inserts the facts of call track `track_id`.
pub async fn insert(
    conn: &mut AnyConnection,
    track_id: i64,
    owner_id: i64,
    c: &CallFacts,
    sha256: &str,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO calls (track_id, owner_id, system_id, system_label, talkgroup_id, talkgroup_label, \
         talkgroup_name, talkgroup_group, talkgroup_tag, frequency, frequencies, source, sources, units, \
         patches, site, started_at, sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(track_id)
    .bind(owner_id)
    .bind(c.system_id)
    .bind(&c.system_label)
    .bind(c.talkgroup_id)
    .bind(&c.talkgroup_label)
    .bind(&c.talkgroup_name)
    .bind(&c.talkgroup_group)
    .bind(&c.talkgroup_tag)
    .bind(c.frequency)
    .bind(&c.frequencies)
    .bind(c.source)
    .bind(&c.sources)
    .bind(&c.units)
    .bind(&c.patches)
    .bind(c.site)
    .bind(c.started_at)
    .bind(sha256)
    .bind(crate::db::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The call facts of track `track_id`, when it is a call.
pub async fn info(db: &Db, track_id: i64) -> Result<Option<crate::tracks::CallInfo>, AppError> {
    let row = sqlx::query(
        "SELECT system_id, system_label, talkgroup_id, talkgroup_label, talkgroup_name, \
         talkgroup_group, talkgroup_tag, frequency, source, started_at FROM calls WHERE track_id = $1",
    )
    .bind(track_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(info_of))
}

/// Which calls a listing asks for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallQuery {
    pub system: Option<i64>,
    pub talkgroup: Option<i64>,
    /// Started at or after (ms since the epoch).
    pub from: Option<i64>,
    /// Started before (ms since the epoch).
    pub to: Option<i64>,
    /// Words in the system's or talkgroup's labels.
    pub q: Option<String>,
    /// `started_at:track_id` of the last call of the previous page.
    pub cursor: Option<String>,
    pub per: Option<i64>,
}

/// The call facts of a row with the `calls` columns.
fn info_of(r: &sqlx::any::AnyRow) -> crate::tracks::CallInfo {
    crate::tracks::CallInfo {
        system_id: r.get("system_id"),
        system_label: r.get("system_label"),
        talkgroup_id: r.get("talkgroup_id"),
        talkgroup_label: r.get("talkgroup_label"),
        talkgroup_name: r.get("talkgroup_name"),
        talkgroup_group: r.get("talkgroup_group"),
        talkgroup_tag: r.get("talkgroup_tag"),
        frequency: r.get("frequency"),
        source: r.get("source"),
        started_at: r.get("started_at"),
    }
}

/// Calls `viewer` may see (their own, and public ones), newest first,
/// filtered; keyset pages.
pub async fn list(db: &Db, viewer: Option<i64>, q: &CallQuery) -> Result<CallPage, AppError> {
    let per = q.per.unwrap_or(50).clamp(1, 500);
    let mut sql = String::from(
        "SELECT c.track_id, t.title, c.system_id, c.system_label, c.talkgroup_id, c.talkgroup_label, \
         c.talkgroup_name, c.talkgroup_group, c.talkgroup_tag, c.frequency, c.source, c.started_at, \
         t.duration_ms FROM calls c JOIN tracks t ON t.id = c.track_id WHERE ",
    );
    let mut binds: Vec<Bind> = Vec::new();
    let arg = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    match viewer {
        Some(v) => {
            let p = arg(Bind::Int(v), &mut binds);
            sql.push_str(&format!("(c.owner_id = {p} OR t.visibility = 'public')"));
        }
        None => sql.push_str("t.visibility = 'public'"),
    }
    if let Some(s) = q.system {
        let p = arg(Bind::Int(s), &mut binds);
        sql.push_str(&format!(" AND c.system_id = {p}"));
    }
    if let Some(tg) = q.talkgroup {
        let p = arg(Bind::Int(tg), &mut binds);
        sql.push_str(&format!(" AND c.talkgroup_id = {p}"));
    }
    if let Some(from) = q.from {
        let p = arg(Bind::Int(from), &mut binds);
        sql.push_str(&format!(" AND c.started_at >= {p}"));
    }
    if let Some(to) = q.to {
        let p = arg(Bind::Int(to), &mut binds);
        sql.push_str(&format!(" AND c.started_at < {p}"));
    }
    let words: Vec<String> =
        q.q.as_deref()
            .unwrap_or("")
            .split_whitespace()
            .take(8)
            .map(|w| format!("%{}%", w.to_lowercase().replace(['%', '_', '\\'], "")))
            .collect();
    for w in words {
        let p = arg(Bind::Text(w), &mut binds);
        sql.push_str(&format!(
            " AND (lower(c.talkgroup_label) LIKE {p} OR lower(c.talkgroup_name) LIKE {p} \
             OR lower(c.system_label) LIKE {p} OR lower(c.talkgroup_group) LIKE {p} \
             OR lower(c.talkgroup_tag) LIKE {p})"
        ));
    }
    if let Some((at, id)) = q.cursor.as_deref().and_then(parse_cursor) {
        let a = arg(Bind::Int(at), &mut binds);
        let i = arg(Bind::Int(id), &mut binds);
        sql.push_str(&format!(
            " AND (c.started_at < {a} OR (c.started_at = {a} AND c.track_id < {i}))"
        ));
    }
    let l = arg(Bind::Int(per + 1), &mut binds);
    sql.push_str(&format!(
        " ORDER BY c.started_at DESC, c.track_id DESC LIMIT {l}"
    ));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Int(i) => query.bind(i),
            Bind::Text(t) => query.bind(t),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > per;
    let items: Vec<CallRow> = rows
        .iter()
        .take(per as usize)
        .map(|r| {
            let track_id: i64 = r.get("track_id");
            CallRow {
                track_id,
                title: r.get("title"),
                call: info_of(r),
                duration_ms: r.get("duration_ms"),
                url: format!("/api/v1/tracks/{track_id}"),
            }
        })
        .collect();
    let next = if more {
        items
            .last()
            .map(|c| format!("{}:{}", c.call.started_at, c.track_id))
    } else {
        None
    };
    Ok(CallPage { items, next })
}

enum Bind {
    Int(i64),
    Text(String),
}

fn parse_cursor(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let all = CallScope::parse("*").expect("all");
        assert!(all.allows(1, 2));
        let some = CallScope::parse("1:*;2:100,200").expect("some");
        assert!(some.allows(1, 5) && some.allows(2, 200));
        assert!(!some.allows(2, 300) && !some.allows(3, 100));
        let json =
            CallScope::parse(r#"[{"id": 7, "talkgroups": [1]}, {"id": 8, "talkgroups": "*"}]"#)
                .expect("json");
        assert!(json.allows(7, 1) && json.allows(8, 99) && !json.allows(7, 2));
        assert!(CallScope::parse("x:1").is_err());
        assert!(CallScope::parse("1:a").is_err());
        let none = CallScope::Systems(Vec::new());
        assert!(!none.allows(1, 1));
    }
}
