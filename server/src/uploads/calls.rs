//! rdio-scanner's call-upload API, wire-compatible, for the recorders that
//! already speak it and will not change for us (trunk-recorder, sdrtrunk):
//! `POST /api/call-upload` and `POST /api/trunk-recorder-call-upload` (the
//! same, plus trunk-recorder's call JSON in a `meta` part). A multipart form
//! with the call's audio and facts and a `key` (a wavekeep API key, which
//! may be limited to some systems and talkgroups) becomes a track with its
//! radio facts (`app::calls`).
//!
//! The answers are what clients check, so they are rdio-scanner's (6.6), as
//! plain text: `200 Call imported successfully.`, `401 Invalid API key for
//! system S talkgroup T.`, `417 Incomplete call data: no audio|no
//! timestamp|no system|no talkgroup` (the last of the checks to fail, as
//! rdio-scanner does: sdrtrunk's connection test, which sends only `key`,
//! `system` and `test=1`, expects "no talkgroup"), `405` for other methods,
//! `400` for bodies that are not multipart. Unlike rdio-scanner, the answer
//! comes only once the call is stored, every part has a size cap, and a call
//! sent again (same system, talkgroup, start and audio) is answered as a
//! success and stored once.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use app::calls::CallFacts;
use app::errors::AppError;
use app::uploads::quota::{self, Want};

use super::ingest::{self, Incoming, Received, Source};
use crate::state::ServerState;

/// Largest audio of one call (calls are seconds to minutes long).
pub const MAX_AUDIO: u64 = 64 * 1024 * 1024;
/// Largest text part, and the largest `meta` (trunk-recorder's call JSON).
const MAX_TEXT: u64 = 64 * 1024;
const MAX_META: u64 = 1024 * 1024;
/// Most parts in one call.
const MAX_PARTS: usize = 64;
/// Audio this short or shorter is no audio (rdio-scanner: a WAV header).
const MIN_AUDIO: u64 = 44;

pub const IMPORTED: &str = "Call imported successfully.\n";

/// `/api/call-upload`.
pub async fn call_upload(
    State(state): State<ServerState>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &method, &headers, body, false).await
}

/// `/api/trunk-recorder-call-upload`.
pub async fn trunk_recorder_call_upload(
    State(state): State<ServerState>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &method, &headers, body, true).await
}

/// A plain-text answer, as rdio-scanner gives them.
fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// An error of ours as plain text (its status and message).
fn failed(e: AppError) -> Response {
    text(e.status(), format!("{e}\n"))
}

async fn handle(
    state: &ServerState,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
    trunk_recorder: bool,
) -> Response {
    if method != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Unsupported method\n");
    }
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return text(StatusCode::BAD_REQUEST, "Invalid content-type\n");
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !essence.starts_with("multipart/") {
        return text(StatusCode::BAD_REQUEST, "Not a multipart content\n");
    }
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return text(StatusCode::BAD_REQUEST, "Invalid content-type\n");
    };
    let tmp = state.storage.spool().tmp_path("call");
    let answer = receive(state, boundary, body, &tmp, trunk_recorder).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    answer
}

/// The form as received: text parts (the last of a name wins) and the audio.
struct Form {
    fields: HashMap<String, String>,
    audio: Option<Audio>,
    meta: Option<Value>,
}

struct Audio {
    /// The part's file name, if it had one.
    filename: Option<String>,
    size: u64,
    sha256: String,
    /// The first bytes, to tell the format by.
    head: Vec<u8>,
}

async fn receive(
    state: &ServerState,
    boundary: String,
    body: Body,
    tmp: &std::path::Path,
    trunk_recorder: bool,
) -> Response {
    let form = match read_form(boundary, body, tmp, trunk_recorder).await {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let call = facts(&form);
    // rdio-scanner checks in this order and reports the last failure.
    let mut missing = None;
    if form.audio.as_ref().is_none_or(|a| a.size <= MIN_AUDIO) {
        missing = Some("no audio");
    }
    if call.started_at <= 0 {
        missing = Some("no timestamp");
    }
    if call.system_id < 1 {
        missing = Some("no system");
    }
    if call.talkgroup_id < 1 {
        missing = Some("no talkgroup");
    }
    if let Some(why) = missing {
        return text(
            StatusCode::EXPECTATION_FAILED,
            format!("Incomplete call data: {why}\n\n"),
        );
    }
    let Some(audio) = form.audio.as_ref() else {
        return text(
            StatusCode::EXPECTATION_FAILED,
            "Incomplete call data: no audio\n\n",
        );
    };
    let denied = || {
        text(
            StatusCode::UNAUTHORIZED,
            format!(
                "Invalid API key for system {} talkgroup {}.\n",
                call.system_id, call.talkgroup_id
            ),
        )
    };
    let Some(key) = form
        .fields
        .get("key")
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    else {
        return denied();
    };
    let hash = app::auth::session::hash_token(key);
    let key = match app::calls::key_for_calls(&state.db, &hash).await {
        Ok(Some(found)) => found,
        Ok(None) => return denied(),
        Err(e) => return failed(e),
    };
    if !key.scope.allows(call.system_id, call.talkgroup_id) {
        return denied();
    }
    let viewer = key.owner;
    // The bytes count against the owner's quota from here until stored.
    let reservation = crate::storage::random_name();
    if let Err(e) = quota::reserve(
        &state.db,
        &reservation,
        viewer.id,
        Want::Exactly(audio.size),
        state.settings.default_quota_bytes,
    )
    .await
    {
        return failed(e);
    }
    let incoming = Incoming {
        title: Some(title_of(&call)),
        filename: Some(file_name(&form, audio)),
        tags: Some(tags_of(&call)),
        reservation: Some(reservation.clone()),
        call: Some(call),
        // The key may ask for every call's transcript; else the owner's choice.
        transcribe: key.transcribe.then_some(true),
        ..Incoming::new_track(viewer.id)
    };
    let received = Received {
        sha256: audio.sha256.clone(),
        size: audio.size,
        synced: false,
    };
    match ingest::ingest_from(state, Source::Spool(tmp), &incoming, None, Some(received)).await {
        Ok(_) => text(StatusCode::OK, IMPORTED),
        Err(e) => {
            quota::release(&state.db, &reservation).await;
            failed(e)
        }
    }
}

/// Reads every part: text into `fields` (capped), `meta` as JSON (the
/// trunk-recorder route), `audio` streamed into `tmp` and hashed.
async fn read_form(
    boundary: String,
    body: Body,
    tmp: &std::path::Path,
    trunk_recorder: bool,
) -> Result<Form, Box<Response>> {
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(MAX_TEXT)
            .for_field("meta", MAX_META)
            .for_field("audio", MAX_AUDIO),
    );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let bad = |e: multer::Error| -> Box<Response> {
        Box::new(match e {
            multer::Error::FieldSizeExceeded { field_name, .. } => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The part \"{}\" is too large.\n",
                    field_name
                        .unwrap_or_default()
                        .chars()
                        .take(40)
                        .collect::<String>()
                ),
            ),
            other => text(
                StatusCode::EXPECTATION_FAILED,
                format!("multipart: {other}\n"),
            ),
        })
    };
    let mut form = Form {
        fields: HashMap::new(),
        audio: None,
        meta: None,
    };
    let mut parts = 0;
    while let Some(mut part) = multipart.next_field().await.map_err(bad)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Box::new(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("A call has at most {MAX_PARTS} parts.\n"),
            )));
        }
        let name: String = part.name().unwrap_or_default().chars().take(64).collect();
        if name == "audio" {
            let filename = part.file_name().map(|f| f.chars().take(255).collect());
            let io = |e: std::io::Error| Box::new(failed(AppError::io("receiving a call", e)));
            let mut out = tokio::fs::File::create(tmp).await.map_err(io)?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut head = Vec::new();
            while let Some(chunk) = part.chunk().await.map_err(bad)? {
                if head.len() < 16 {
                    head.extend(chunk.iter().take(16 - head.len()));
                }
                hasher.update(&chunk);
                size += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(io)?;
            }
            out.flush().await.map_err(io)?;
            form.audio = Some(Audio {
                filename,
                size,
                sha256: hex::encode(hasher.finalize()),
                head,
            });
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = part.chunk().await.map_err(bad)? {
            bytes.extend_from_slice(&chunk);
        }
        if name == "meta" && trunk_recorder {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => form.meta = Some(v),
                Err(_) => {
                    return Err(Box::new(text(
                        StatusCode::EXPECTATION_FAILED,
                        "Invalid call data\n",
                    )))
                }
            }
            continue;
        }
        form.fields
            .insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(form)
}

/// The first non-blank text among `names` (rdio-scanner's aliases).
fn field<'a>(form: &'a Form, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        form.fields
            .get(*n)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// A label: blank and "-" are nothing.
fn label(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-")
        .map(|v| v.chars().take(200).collect())
}

fn positive(v: Option<&str>) -> Option<i64> {
    v.and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
}

/// A JSON array as sent, or `[]` (anything else is dropped).
fn json_array(v: Option<&str>) -> Option<String> {
    let v = v?;
    match serde_json::from_str::<Value>(v) {
        Ok(Value::Array(items)) => Some(Value::Array(items).to_string()),
        _ => None,
    }
}

/// `dateTime`: all digits are Unix seconds, else RFC 3339; in ms.
fn date_time(v: &str) -> Option<i64> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<i64>().ok()?.checked_mul(1000);
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The call's facts: trunk-recorder's `meta` first, the form's parts over it.
fn facts(form: &Form) -> CallFacts {
    let mut c = form.meta.as_ref().map(meta_facts).unwrap_or_default();
    if let Some(v) = positive(field(form, &["system", "systemId"])) {
        c.system_id = v;
    }
    if let Some(v) = label(field(form, &["systemLabel"])) {
        c.system_label = v;
    }
    if let Some(v) = positive(field(form, &["talkgroup", "talkgroupId"])) {
        c.talkgroup_id = v;
    }
    if let Some(v) = label(field(form, &["talkgroupLabel"])) {
        c.talkgroup_label = v;
    }
    if let Some(v) = label(field(form, &["talkgroupName"])) {
        c.talkgroup_name = v;
    }
    if let Some(v) = label(field(form, &["talkgroupGroup", "talkgroupGroups"])) {
        c.talkgroup_group = v;
    }
    if let Some(v) = label(field(form, &["talkgroupTag"])) {
        c.talkgroup_tag = v;
    }
    if let Some(v) = positive(field(form, &["frequency"])) {
        c.frequency = Some(v);
    }
    if let Some(v) = json_array(field(form, &["frequencies"])) {
        c.frequencies = v;
    }
    if let Some(v) = field(form, &["source"]).and_then(|v| v.parse::<i64>().ok()) {
        c.source = Some(v);
    }
    if let Some(v) = json_array(field(form, &["sources"])) {
        c.sources = v;
    }
    if let Some(v) = json_array(field(form, &["units"])) {
        c.units = v;
    } else if let Some(v) = positive(field(form, &["unit"])) {
        c.units = format!("[{{\"id\":{v}}}]");
    }
    if let Some(v) = json_array(field(form, &["patches", "patched_talkgroups"])) {
        c.patches = v;
    }
    if let Some(v) = positive(field(form, &["site"])) {
        c.site = Some(v);
    }
    if let Some(v) = field(form, &["dateTime"]).and_then(date_time) {
        c.started_at = v;
    } else if let Some(v) = positive(field(form, &["timestamp"])) {
        c.started_at = v;
    }
    for arr in [
        &mut c.frequencies,
        &mut c.sources,
        &mut c.units,
        &mut c.patches,
    ] {
        if arr.is_empty() {
            *arr = "[]".into();
        }
    }
    c
}

/// What trunk-recorder's call JSON says.
fn meta_facts(m: &Value) -> CallFacts {
    let int = |k: &str| m.get(k).and_then(Value::as_i64).filter(|v| *v > 0);
    let text = |k: &str| label(m.get(k).and_then(Value::as_str));
    let array = |k: &str| {
        m.get(k)
            .filter(|v| v.is_array())
            .map(Value::to_string)
            .unwrap_or_else(|| "[]".into())
    };
    let sources = array("srcList");
    let first_source = m
        .get("srcList")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|s| s.get("src"))
        .and_then(Value::as_i64);
    CallFacts {
        system_id: 0,
        system_label: text("short_name").unwrap_or_default(),
        talkgroup_id: int("talkgroup").unwrap_or(0),
        talkgroup_label: text("talkgroup_tag").unwrap_or_default(),
        talkgroup_name: text("talkgroup_description").unwrap_or_default(),
        talkgroup_group: text("talkgroup_group").unwrap_or_default(),
        talkgroup_tag: text("talkgroup_group_tag").unwrap_or_default(),
        frequency: int("freq"),
        frequencies: array("freqList"),
        source: first_source,
        sources,
        units: "[]".into(),
        patches: array("patched_talkgroups"),
        site: None,
        started_at: int("start_time")
            .and_then(|s| s.checked_mul(1000))
            .or_else(|| int("timestamp"))
            .unwrap_or(0),
    }
}

/// "Fire Dispatch · County" from the labels, or the ids.
fn title_of(c: &CallFacts) -> String {
    let tg = [&c.talkgroup_label, &c.talkgroup_name]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("TG {}", c.talkgroup_id));
    let system = if c.system_label.is_empty() {
        format!("System {}", c.system_id)
    } else {
        c.system_label.clone()
    };
    format!("{tg} · {system}")
}

fn tags_of(c: &CallFacts) -> String {
    let mut tags = vec!["call".to_string()];
    for t in [&c.talkgroup_group, &c.talkgroup_tag] {
        if !t.is_empty() && !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags.join(", ")
}

/// The call's file name: `audioName` (or its aliases), else the part's own
/// name, else one made from the start time; with an extension from the
/// name, `audioType`, or (sdrtrunk#1620: names without one) the content.
/// Only ever a name: it never decides how the file is served.
fn file_name(form: &Form, audio: &Audio) -> String {
    let given = field(form, &["audioName", "audioFilename", "audioFileName"])
        .map(str::to_string)
        .or_else(|| audio.filename.clone())
        .map(|n| {
            n.rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..");
    let base = given.unwrap_or_else(|| "call".to_string());
    // "20240101_123456.789" has no extension, only a dot.
    let has_ext = std::path::Path::new(&base)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if has_ext {
        return base.chars().take(255).collect();
    }
    let ext = field(form, &["audioType", "audioMime"])
        .and_then(ext_of_type)
        .or_else(|| crate::media::sniff::audio_kind(&audio.head))
        .unwrap_or("bin");
    format!("{}.{ext}", base.chars().take(240).collect::<String>())
}

const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "mp3", "m4a", "mp4", "aac", "ogg", "oga", "opus", "flac", "webm", "aif", "aiff", "amr",
    "wma",
];

fn ext_of_type(mime: &str) -> Option<&'static str> {
    Some(
        match mime
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
            "audio/mpeg" | "audio/mp3" => "mp3",
            "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "m4a",
            "audio/ogg" | "audio/opus" => "ogg",
            "audio/flac" | "audio/x-flac" => "flac",
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Form {
        Form {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            audio: None,
            meta: None,
        }
    }

    #[test]
    fn dates_fields_and_names() {
        assert_eq!(date_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            date_time("2024-01-02T03:04:05.250Z"),
            Some(1_704_164_645_250)
        );
        assert_eq!(
            date_time("2024-01-02T05:04:05+02:00"),
            Some(1_704_164_645_000)
        );
        assert_eq!(date_time("yesterday"), None);
        let f = form(&[
            ("systemId", "3"),
            ("talkgroup", "101"),
            ("talkgroupTag", "-"),
            ("talkgroupLabel", "Fire"),
            ("patches", "[1, 2]"),
            ("sources", "not json"),
            ("timestamp", "1700000000123"),
        ]);
        let c = facts(&f);
        assert_eq!((c.system_id, c.talkgroup_id), (3, 101));
        assert_eq!(c.talkgroup_tag, "");
        assert_eq!(c.patches, "[1,2]");
        assert_eq!(c.sources, "[]");
        assert_eq!(c.started_at, 1_700_000_000_123);
        assert_eq!(title_of(&c), "Fire · System 3");
        let audio = Audio {
            filename: Some("../../x".into()),
            size: 100,
            sha256: String::new(),
            head: b"RIFF\0\0\0\0WAVEfmt ".to_vec(),
        };
        assert_eq!(file_name(&form(&[]), &audio), "x.wav");
        let audio = Audio {
            filename: None,
            ..audio
        };
        assert_eq!(
            file_name(&form(&[("audioType", "audio/mpeg")]), &audio),
            "call.mp3"
        );
        assert_eq!(
            file_name(&form(&[("audioName", "20240101_123456.789.mp3")]), &audio),
            "20240101_123456.789.mp3"
        );
        assert_eq!(
            file_name(&form(&[("audioName", "20240101_123456.789")]), &audio),
            "20240101_123456.789.wav"
        );
    }

    #[test]
    fn trunk_recorder_meta() {
        let m: Value = serde_json::from_str(
            r#"{"freq": 851000000, "start_time": 1700000000, "talkgroup": 42,
                "talkgroup_tag": "Police", "talkgroup_description": "City police",
                "short_name": "metro", "srcList": [{"src": 7, "pos": 0.0}],
                "freqList": [{"freq": 851000000}], "patched_talkgroups": []}"#,
        )
        .expect("json");
        let c = meta_facts(&m);
        assert_eq!(c.talkgroup_id, 42);
        assert_eq!(c.talkgroup_label, "Police");
        assert_eq!(c.system_label, "metro");
        assert_eq!(c.source, Some(7));
        assert_eq!(c.started_at, 1_700_000_000_000);
        assert_eq!(c.frequency, Some(851_000_000));
    }
}
