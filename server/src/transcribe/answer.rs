//! Reading what a provider answered. The servers that speak this protocol
//! differ: words top-level or inside each segment, keyed `word` or `text`;
//! times in seconds (or, from an old LocalAI, nanoseconds); `language` a
//! name or a code; errors as `{"error":{"message","code"}}`,
//! `{"error":"text"}` or `{"detail":…}`. Everything but the text is
//! optional, and times that make no sense are rejected, not stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A chunk's transcript, normalized (times in ms from the chunk's start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkResult {
    pub language: Option<String>,
    pub text: String,
    pub segments: Vec<Piece>,
    /// Words with the index of the segment they belong to.
    pub words: Vec<WordPiece>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WordPiece {
    pub segment: usize,
    pub start_ms: i64,
    pub end_ms: i64,
    pub word: String,
}

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not the protocol's JSON (a flaky server: worth another try).
    Unreadable(String),
    /// Well-formed but impossible (times outside the chunk): the same
    /// request would get the same answer.
    Nonsense(String),
}

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadAnswer::Unreadable(m) | BadAnswer::Nonsense(m) => f.write_str(m),
        }
    }
}

/// Reads a `verbose_json` (or plain `json`) answer for a chunk of
/// `chunk_ms` milliseconds.
pub fn parse(body: &[u8], chunk_ms: i64) -> Result<ChunkResult, BadAnswer> {
    read(body, chunk_ms).map_err(|(nonsense, m)| {
        if nonsense {
            BadAnswer::Nonsense(m)
        } else {
            BadAnswer::Unreadable(m)
        }
    })
}

fn read(body: &[u8], chunk_ms: i64) -> Result<ChunkResult, (bool, String)> {
    let unreadable = |m: String| (false, m);
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| unreadable(format!("the provider's answer is not JSON ({e})")))?;
    if let Some(err) = error_message(&v) {
        // Old whisper.cpp answered some failures with 200.
        return Err(unreadable(err));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| unreadable("the provider's answer is not a JSON object".into()))?;
    let text = obj
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| unreadable("the provider's answer has no text".into()))?
        .trim()
        .to_string();
    let language = obj
        .get("language")
        .and_then(Value::as_str)
        .map(normalize_language)
        .filter(|l| !l.is_empty());
    let raw_segments: Vec<&Value> = obj
        .get("segments")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let duration = obj.get("duration").and_then(Value::as_f64);
    let scale =
        time_scale(&raw_segments, obj.get("words"), duration, chunk_ms).map_err(|m| (true, m))?;
    let time = |v: Option<&Value>| -> Option<i64> {
        let s = v.and_then(Value::as_f64)?;
        s.is_finite().then(|| (s * scale).round() as i64)
    };
    // A little past the chunk is normal (a segment's end may exceed the
    // duration); far past it is not.
    let limit = chunk_ms + chunk_ms / 10 + 2_000;
    let mut segments = Vec::new();
    let mut nested_words = Vec::new();
    for s in &raw_segments {
        let seg_text = s
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
        let (Some(start), Some(end)) = (time(s.get("start")), time(s.get("end"))) else {
            continue;
        };
        if start < 0 || start > limit || end > limit {
            return Err((
                true,
                format!(
                    "the provider's segment times ({start}–{end} ms) lie outside a {chunk_ms} ms chunk"
                ),
            ));
        }
        let idx = segments.len();
        segments.push(Piece {
            start_ms: start,
            end_ms: end.max(start),
            text: seg_text,
        });
        if let Some(ws) = s.get("words").and_then(Value::as_array) {
            nested_words.extend(ws.iter().filter_map(|w| word(w, idx, &time, limit)));
        }
    }
    if segments.is_empty() && !text.is_empty() {
        // A plain `json` answer: one segment for the whole chunk.
        segments.push(Piece {
            start_ms: 0,
            end_ms: duration.map_or(chunk_ms, |d| (d * 1000.0).round() as i64),
            text: text.clone(),
        });
    }
    let top: Vec<WordPiece> = obj
        .get("words")
        .and_then(Value::as_array)
        .map(|ws| ws.iter().filter_map(|w| word(w, 0, &time, limit)).collect())
        .unwrap_or_default();
    // Top-level words when given (each placed in the segment it falls in),
    // else the segments' own.
    let words = if top.is_empty() {
        nested_words
    } else {
        top.into_iter()
            .map(|mut w| {
                w.segment = segments
                    .iter()
                    .rposition(|s| s.start_ms <= w.start_ms)
                    .unwrap_or(0);
                w
            })
            .collect()
    };
    Ok(ChunkResult {
        language,
        text,
        segments,
        words,
    })
}

fn word(
    w: &Value,
    segment: usize,
    time: &dyn Fn(Option<&Value>) -> Option<i64>,
    limit: i64,
) -> Option<WordPiece> {
    let text = w
        .get("word")
        .or_else(|| w.get("text"))
        .and_then(Value::as_str)?
        .trim()
        .to_string();
    let (start, end) = (time(w.get("start"))?, time(w.get("end"))?);
    (!text.is_empty() && start >= 0 && end <= limit).then(|| WordPiece {
        segment,
        start_ms: start,
        end_ms: end.max(start),
        word: text,
    })
}

/// Milliseconds per unit of the answer's times: 1000 for seconds; 1e-6 when
/// the numbers only make sense as nanoseconds (an old LocalAI). An answer
/// whose times fit neither is refused.
fn time_scale(
    segments: &[&Value],
    words: Option<&Value>,
    duration: Option<f64>,
    chunk_ms: i64,
) -> Result<f64, String> {
    let mut max_t: f64 = 0.0;
    let mut all_integers = true;
    for s in segments {
        for k in ["start", "end"] {
            if let Some(t) = s.get(k).and_then(Value::as_f64) {
                max_t = max_t.max(t);
                all_integers &= t.fract() == 0.0;
            }
        }
    }
    if let Some(ws) = words.and_then(Value::as_array) {
        for w in ws {
            if let Some(t) = w.get("end").and_then(Value::as_f64) {
                max_t = max_t.max(t);
            }
        }
    }
    let chunk_s = chunk_ms as f64 / 1000.0;
    let bound = duration.unwrap_or(chunk_s).max(chunk_s) * 1.1 + 2.0;
    if max_t <= bound {
        return Ok(1000.0);
    }
    if all_integers && max_t / 1e9 <= bound {
        return Ok(1e-6);
    }
    Err(format!(
        "the provider's times ({max_t}) make no sense for {chunk_s:.1} s of audio"
    ))
}

/// `english` / `English` / `en` → `en` where the name is known, else the
/// value lowercased.
pub fn normalize_language(l: &str) -> String {
    let l = l.trim().to_lowercase();
    const NAMES: &[(&str, &str)] = &[
        ("english", "en"),
        ("german", "de"),
        ("french", "fr"),
        ("spanish", "es"),
        ("italian", "it"),
        ("portuguese", "pt"),
        ("dutch", "nl"),
        ("russian", "ru"),
        ("chinese", "zh"),
        ("japanese", "ja"),
        ("korean", "ko"),
        ("arabic", "ar"),
        ("hindi", "hi"),
        ("polish", "pl"),
        ("turkish", "tr"),
        ("swedish", "sv"),
        ("ukrainian", "uk"),
        ("czech", "cs"),
        ("danish", "da"),
        ("finnish", "fi"),
        ("norwegian", "no"),
        ("greek", "el"),
        ("hebrew", "he"),
    ];
    NAMES
        .iter()
        .find(|(name, _)| *name == l)
        .map_or(l.clone(), |(_, code)| (*code).to_string())
}

/// The message of an error body, in any of the shapes providers use.
pub fn error_message(v: &Value) -> Option<String> {
    match v.get("error") {
        Some(Value::String(s)) => return Some(s.clone()),
        Some(Value::Object(o)) => {
            let msg = o.get("message").and_then(Value::as_str).unwrap_or("error");
            return Some(msg.to_string());
        }
        _ => {}
    }
    match v.get("detail") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|i| i.get("msg").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// The error `code` (or `type`) of an OpenAI-shaped error body.
pub fn error_code(v: &Value) -> Option<String> {
    let e = v.get("error")?.as_object()?;
    e.get("code")
        .and_then(|c| c.as_str().map(str::to_string))
        .or_else(|| e.get("type").and_then(Value::as_str).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Result<ChunkResult, String> {
        parse(json.as_bytes(), 10_000).map_err(|e| e.to_string())
    }

    #[test]
    fn openai_verbose_json() {
        let r = p(r#"{"task":"transcribe","language":"english","duration":9.91,"text":" The dog jumped ",
            "segments":[{"id":0,"seek":0,"start":0.0,"end":11.0,"text":" The dog jumped","tokens":[1],"temperature":0.0,
              "avg_logprob":-0.3,"compression_ratio":1.1,"no_speech_prob":0.02}],
            "words":[{"word":"The","start":0.0,"end":0.24},{"word":"dog","start":0.3,"end":0.5}]}"#)
        .expect("parse");
        assert_eq!(r.language.as_deref(), Some("en"));
        assert_eq!(r.text, "The dog jumped");
        assert_eq!(
            r.segments,
            [Piece {
                start_ms: 0,
                end_ms: 11_000,
                text: "The dog jumped".into()
            }]
        );
        assert_eq!(r.words.len(), 2);
        assert_eq!(
            (
                r.words[1].start_ms,
                r.words[1].end_ms,
                r.words[1].word.as_str()
            ),
            (300, 500, "dog")
        );
    }

    #[test]
    fn nested_words_keyed_text_and_whisper_cpp_tokens() {
        let r = p(r#"{"text":"hi there","language":"en","segments":[{"start":1.5,"end":2.5,"text":" hi there",
            "words":[{"text":"hi","start":1.5,"end":1.9},{"word":" there","start":2.0,"end":2.5,"t_dtw":-1}]}]}"#)
        .expect("parse");
        assert_eq!(
            r.words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
            ["hi", "there"]
        );
        assert_eq!(r.words[0].start_ms, 1_500);
    }

    #[test]
    fn nanoseconds_are_read_as_such_and_nonsense_is_refused() {
        let r =
            p(r#"{"text":"x","segments":[{"start":0,"end":9640000000,"text":"x"}]}"#).expect("ns");
        assert_eq!(r.segments[0].end_ms, 9_640);
        let e = parse(
            br#"{"text":"x","segments":[{"start":0,"end":4000.5,"text":"x"}]}"#,
            10_000,
        )
        .expect_err("absurd");
        assert!(
            matches!(e, BadAnswer::Nonsense(ref m) if m.contains("make no sense")),
            "{e}"
        );
        let e = p(r#"{"text":"x","segments":[{"start":-3,"end":1,"text":"x"}]}"#)
            .expect_err("negative");
        assert!(e.contains("outside"), "{e}");
    }

    #[test]
    fn plain_json_and_errors() {
        let r = p(r#"{"text":"hello","x_groq":{"id":"req_1"}}"#).expect("json");
        assert_eq!(
            r.segments,
            [Piece {
                start_ms: 0,
                end_ms: 10_000,
                text: "hello".into()
            }]
        );
        assert_eq!(
            p(r#"{"error":"failed to read audio data"}"#).expect_err("cpp"),
            "failed to read audio data"
        );
        assert!(p("not json").is_err());
        let v: Value = serde_json::from_str(r#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#).expect("v");
        assert_eq!(error_code(&v).as_deref(), Some("insufficient_quota"));
        let v: Value =
            serde_json::from_str(r#"{"detail":[{"msg":"field required"},{"msg":"bad"}]}"#)
                .expect("v");
        assert_eq!(error_message(&v).as_deref(), Some("field required; bad"));
        let v: Value =
            serde_json::from_str(r#"{"error":{"code":503,"message":"loading","type":""}}"#)
                .expect("v");
        assert_eq!(error_message(&v).as_deref(), Some("loading"));
    }
}
