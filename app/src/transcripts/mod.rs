//! Transcripts: what was said in a stored file, as timestamped segments (and
//! words when the provider gives them), made by an OpenAI-compatible
//! speech-to-text API in the `transcribe` job. Shared types and the export
//! formats here; the SQL in `db`, the provider's deployment-wide limits in
//! `gate`, the server functions in `api`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod gate;
#[cfg(feature = "ssr")]
pub mod search;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod usage;

use serde::{Deserialize, Serialize};

/// A transcript as the track page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// none (never asked), queued, running, done or failed.
    pub status: String,
    pub language: Option<String>,
    pub model: Option<String>,
    pub duration_ms: Option<i64>,
    pub segments: Vec<Segment>,
    pub chunks_total: i64,
    pub chunks_done: i64,
    /// Why it failed, in the provider's words.
    pub error: Option<String>,
}

/// One stretch of speech.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub idx: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    /// The owner corrected it.
    pub edited: bool,
}

/// How far a transcript is, for the track's live events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptProgress {
    /// running, done or failed.
    pub status: String,
    pub chunks_done: i64,
    pub chunks_total: i64,
}

/// What the track page needs besides the transcript: whether transcription
/// is on here, and whether the viewer may start or edit it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptPanel {
    pub enabled: bool,
    pub can_edit: bool,
    pub transcript: Transcript,
}

/// The viewer's transcription settings and usage (/account).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionAccount {
    /// Transcription is set up on this server.
    pub enabled: bool,
    /// New uploads are transcribed.
    pub transcribe_uploads: bool,
    pub minutes_this_month: f64,
    pub minutes_per_month: Option<u64>,
}

/// Transcription on /admin: the queue, the provider's limits and how they
/// are used, its latency and errors over the last 5 minutes, the breaker,
/// and this month's minutes (the whole deployment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionStats {
    pub queued: i64,
    pub running: i64,
    pub in_flight: i64,
    pub concurrency: u32,
    pub started_last_minute: i64,
    pub rate_per_minute: u32,
    /// Requests answered in the last 5 minutes, and their latency.
    pub requests: i64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Failed requests in the last 5 minutes by class: rate_limited,
    /// server_error, timeout, client_error.
    pub errors: Vec<(String, i64)>,
    /// closed, open or half_open.
    pub breaker: String,
    pub failures_in_a_row: i64,
    pub paused_for_ms: i64,
    pub minutes_this_month: f64,
    pub minutes_per_user: Option<u64>,
}

impl TranscriptionStats {
    /// Failed requests over all requests in the last 5 minutes.
    pub fn error_rate(&self) -> f64 {
        let failed: i64 = self.errors.iter().map(|(_, n)| n).sum();
        if self.requests > 0 {
            failed as f64 / self.requests as f64
        } else {
            0.0
        }
    }
}

/// Where a search matched in a track's transcript: the moment and the
/// words around it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TranscriptHit {
    pub start_ms: i64,
    /// The words around the match (plain text).
    pub snippet: String,
    /// The words of the snippet that matched, lowercased (for API clients;
    /// the pages use `marks`, and their wasm carries no reader for this).
    #[serde(skip_deserializing)]
    pub matched: Vec<String>,
    /// Where they are in `snippet`: character (not byte) ranges, start
    /// included, end excluded.
    pub marks: Vec<[u32; 2]>,
}

impl TranscriptHit {
    /// The snippet cut at its marks: (text, matched) pieces.
    pub fn pieces(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut piece = String::new();
        let mut mark = self.marks.iter().peekable();
        let mut inside = false;
        for (i, c) in self.snippet.chars().enumerate() {
            let i = i as u32;
            let starts = !inside && mark.peek().is_some_and(|m| m[0] == i);
            let ends = inside && mark.peek().is_some_and(|m| m[1] == i);
            if starts || ends {
                if !piece.is_empty() {
                    out.push((std::mem::take(&mut piece), inside));
                }
                if ends {
                    mark.next();
                }
                inside = starts || (ends && mark.peek().is_some_and(|m| m[0] == i));
            }
            piece.push(c);
        }
        if !piece.is_empty() {
            out.push((piece, inside));
        }
        out
    }
}

/// Export formats of `GET /api/v1/tracks/{id}/transcript?format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Txt,
    Srt,
    Vtt,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "json" => Format::Json,
            "txt" | "text" => Format::Txt,
            "srt" => Format::Srt,
            "vtt" => Format::Vtt,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Txt => "text/plain; charset=utf-8",
            Format::Srt => "application/x-subrip; charset=utf-8",
            Format::Vtt => "text/vtt; charset=utf-8",
        }
    }
}

/// A moment for a `?t=` link: seconds, to the tenth below (`8`, `12.4`).
pub fn moment(ms: i64) -> String {
    let tenths = ms.max(0) / 100;
    if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// `h:mm:ss` or `m:ss`, for the transcript's timestamps.
pub fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn stamp(ms: i64, decimal: char) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}{decimal}{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// A cue's text: one line, never the blank line that ends a cue.
fn cue_text(text: &str) -> String {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // "-->" would read as a timing line in WebVTT.
    t.replace("-->", "→")
}

/// The transcript as plain text, one segment a line.
pub fn to_txt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push_str(&cue_text(&s.text));
        out.push('\n');
    }
    out
}

/// The transcript as SubRip subtitles.
pub fn to_srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .enumerate()
    {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            stamp(s.start_ms, ','),
            stamp(s.end_ms.max(s.start_ms), ','),
            cue_text(&s.text)
        ));
    }
    out
}

/// The transcript as WebVTT.
pub fn to_vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments.iter().filter(|s| !s.text.trim().is_empty()) {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            stamp(s.start_ms, '.'),
            stamp(s.end_ms.max(s.start_ms), '.'),
            cue_text(&s.text)
        ));
    }
    out
}

/// The words a search looks for: lowercase, letters and digits only.
pub fn terms_of(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `text` cut into pieces, each marked when it is a word that starts with
/// one of `terms` (as the search matches prefixes).
pub fn pieces(text: &str, terms: &[String]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut word = String::new();
    let push = |piece: String, hit: bool, out: &mut Vec<(String, bool)>| match out.last_mut() {
        Some((last, h)) if *h == hit && !hit => last.push_str(&piece),
        _ => out.push((piece, hit)),
    };
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let lower = word.to_lowercase();
            let hit = terms.iter().any(|t| lower.starts_with(t.as_str()));
            push(std::mem::take(&mut word), hit, &mut out);
        }
        if c != '\0' {
            push(c.to_string(), false, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hit_is_cut_at_its_marks() {
        let hit = |marks: Vec<[u32; 2]>| TranscriptHit {
            start_ms: 0,
            snippet: "é kilo lima".into(),
            matched: Vec::new(),
            marks,
        };
        let p = hit(vec![[2, 6], [7, 11]]).pieces();
        let want: Vec<(String, bool)> = vec![
            ("é ".into(), false),
            ("kilo".into(), true),
            (" ".into(), false),
            ("lima".into(), true),
        ];
        assert_eq!(p, want);
        assert_eq!(
            hit(vec![]).pieces(),
            vec![("é kilo lima".to_string(), false)]
        );
        assert_eq!(hit(vec![[0, 1]]).pieces()[0], ("é".to_string(), true));
    }

    #[test]
    fn moments_are_tenths_of_seconds_rounded_down() {
        assert_eq!(super::moment(8_010), "8");
        assert_eq!(super::moment(8_990), "8.9");
        assert_eq!(super::moment(0), "0");
        assert_eq!(super::moment(-5), "0");
        assert_eq!(super::moment(3_723_456), "3723.4");
    }

    #[test]
    fn matched_words_are_marked_by_prefix() {
        let terms = terms_of("Kil, lima!");
        assert_eq!(terms, ["kil", "lima"]);
        let p = pieces("Then Kilo said: lima-bean [Music]", &terms);
        let marked: Vec<&str> = p
            .iter()
            .filter(|(_, h)| *h)
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(marked, ["Kilo", "lima"]);
        let all: String = p.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(all, "Then Kilo said: lima-bean [Music]");
        assert!(pieces("nothing here", &[]).iter().all(|(_, h)| !h));
    }

    use super::*;

    fn seg(idx: i64, start_ms: i64, end_ms: i64, text: &str) -> Segment {
        Segment {
            idx,
            start_ms,
            end_ms,
            text: text.into(),
            edited: false,
        }
    }

    #[test]
    fn subtitles_are_well_formed() {
        let s = [
            seg(0, 0, 1_500, " Hello there "),
            seg(1, 61_020, 3_723_004, "line\nbreak --> arrow"),
            seg(2, 5, 6, "  "),
        ];
        assert_eq!(
            to_srt(&s),
            "1\n00:00:00,000 --> 00:00:01,500\nHello there\n\n\
             2\n00:01:01,020 --> 01:02:03,004\nline break → arrow\n\n"
        );
        let vtt = to_vtt(&s);
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there\n\n"));
        assert_eq!(vtt.matches(" --> ").count(), 2);
        assert_eq!(to_txt(&s[..1]), "Hello there\n");
        assert_eq!(clock(3_723_000), "1:02:03");
        assert_eq!(clock(61_000), "1:01");
    }
}
