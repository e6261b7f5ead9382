//! A speech-to-text provider for tests and benchmarks, on loopback. It
//! speaks OpenAI's `POST /v1/audio/transcriptions` as the hosted API does:
//! a multipart body (`file`, `model`, `response_format`,
//! `timestamp_granularities[]`, `language`, `prompt`), a bearer key, the
//! 25 MiB body limit, and answers in `verbose_json` (or `json`), with the
//! API's error bodies and rate-limit headers.
//!
//! What it "hears" depends on the audio it receives: it decodes the file
//! and finds the tones in it; each tone is a spoken word whose pitch names
//! it (`WORDS[k]` is a tone of `400 + 100·k` Hz), one segment per tone, so
//! a test knows exactly what text and times the answer must hold.
//!
//! A test scripts what the next requests get (`Reply`: a 429 with any of
//! the retry headers, no quota, a 500, a hang, a reset connection,
//! malformed JSON, a 400) and reads back every arrival: when, how many
//! were in flight, which audio. `GET /_fake/stats` and `POST /_fake/script`
//! do the same over HTTP for a fake running in its own process.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::json;

pub mod hear;
mod serve;

use hear::hear;
use serve::{handle, respond, Answer};

/// The words the tones stand for: `WORDS[k]` is `400 + 100·k` Hz.
pub const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];

/// The pitch that says `word`.
pub fn hz_of(word: &str) -> u32 {
    let k = WORDS
        .iter()
        .position(|w| *w == word)
        .unwrap_or_else(|| panic!("{word} is not a tone word"));
    400 + 100 * k as u32
}

/// OpenAI's body limit.
pub const MAX_BODY: usize = 26_214_400;

/// What the next request is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The transcript of the audio, after the configured latency.
    Transcribe,
    /// 429 `rate_limit_exceeded` with this hint of when to come back.
    RateLimited(RetryHint),
    /// 429 `insufficient_quota` (the account has no credit left).
    OutOfQuota,
    /// 500 `server_error`.
    ServerError,
    /// 503 from a proxy in front: an HTML page, no JSON.
    Unavailable,
    /// No answer for this long (then a transcript nobody waits for).
    Hang(Duration),
    /// The connection is closed with no answer.
    Reset,
    /// 200 with a body cut off mid-JSON.
    Malformed,
    /// 400 `invalid_request_error` about the file.
    BadFile,
    /// 401 `invalid_api_key`.
    BadKey,
}

/// How a 429 says when to come back.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryHint {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `retry-after-ms: <ms>`.
    Millis(u64),
    /// `Retry-After: <HTTP date>` this far ahead (whole seconds, as dates are).
    Date(Duration),
    /// Only `x-ratelimit-reset-requests` (`1s`, `6m0s`, `20ms`).
    ResetRequests(String),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub unix_ms: i64,
    pub ended: Instant,
    /// How it was answered (`ok`, `429`, `500`, `hang`, `reset`, …).
    pub reply: String,
    pub model: String,
    pub language: Option<String>,
    pub response_format: String,
    pub granularities: Vec<String>,
    pub file_name: String,
    pub content_type: String,
    pub authorization: Option<String>,
    pub body_bytes: usize,
    /// SHA-256 of the audio file's bytes.
    pub digest: String,
    /// The words heard (empty unless transcribed).
    pub words: Vec<String>,
    pub audio_secs: f64,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// How long a transcription takes.
    pub latency: Duration,
    /// The key clients must send (`Authorization: Bearer …`), if any.
    pub api_key: Option<String>,
    /// The path served (OpenAI: `/v1/audio/transcriptions`).
    pub path: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            latency: Duration::from_millis(20),
            api_key: None,
            path: "/v1/audio/transcriptions".into(),
        }
    }
}

#[derive(Default)]
struct Record {
    script: VecDeque<Reply>,
    arrivals: Vec<Arrival>,
    in_flight: usize,
    max_in_flight: usize,
}

struct Shared {
    opts: Options,
    record: Mutex<Record>,
}

pub struct FakeStt {
    /// The base URL to configure (`WAVEKEEP_STT_URL`), with `/v1`.
    pub url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeStt {
    pub async fn start(opts: Options) -> FakeStt {
        Self::start_on("127.0.0.1:0", opts).await
    }

    pub async fn start_on(addr: &str, opts: Options) -> FakeStt {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the fake provider");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Shared {
            opts,
            record: Mutex::new(Record::default()),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    _ = &mut rx => return,
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { handle(s, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeStt {
            url: format!("http://{addr}/v1"),
            addr,
            shared,
            stop: Some(tx),
        }
    }

    /// The next requests get these answers, in order (then transcripts).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// Every request so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone()
    }

    /// Requests answered with a transcript.
    pub fn transcribed(&self) -> Vec<Arrival> {
        self.arrivals()
            .into_iter()
            .filter(|a| a.reply == "ok")
            .collect()
    }

    /// The most requests that were in flight at once (hangs not counted:
    /// their client gave up long before the fake answers).
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// The most requests that arrived within any `window`.
    pub fn max_per_window(&self, window: Duration) -> usize {
        max_in_window(&self.arrivals(), window)
    }

    /// Audio files sent more than once with a transcript as the answer.
    pub fn duplicates(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.transcribed()
            .iter()
            .filter(|a| !seen.insert(a.digest.clone()))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.shared.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeStt {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn max_in_window(arrivals: &[Arrival], window: Duration) -> usize {
    let mut times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    times.sort();
    let mut best = 0;
    let mut first = 0;
    for (i, t) in times.iter().enumerate() {
        while t.duration_since(times[first]) >= window {
            first += 1;
        }
        best = best.max(i + 1 - first);
    }
    best
}

fn stats(s: &Shared) -> Answer {
    let r = s.record.lock().unwrap_or_else(|e| e.into_inner());
    let answered = r.arrivals.iter().filter(|a| a.reply == "ok").count();
    let mut seen = std::collections::HashSet::new();
    let duplicates = r
        .arrivals
        .iter()
        .filter(|a| a.reply == "ok" && !seen.insert(a.digest.clone()))
        .count();
    let body = json!({
        "requests": r.arrivals.len(),
        "answered": answered,
        "duplicates": duplicates,
        "in_flight": r.in_flight,
        "max_in_flight": r.max_in_flight,
        "max_per_minute": max_in_window(&r.arrivals, Duration::from_secs(60)),
        "first_unix_ms": r.arrivals.iter().map(|a| a.unix_ms).min(),
    });
    respond(StatusCode::OK, &[], body.to_string(), true)
}

/// `"429:3"` (Retry-After 3 s), `"429ms:500"`, `"quota"`, `"500"`, `"503"`,
/// `"hang:10"`, `"reset"`, `"malformed"`, `"400"`, `"401"`, `"ok"`.
pub fn parse_reply(name: &str) -> Option<Reply> {
    let (head, arg) = name.split_once(':').unwrap_or((name, ""));
    let n = arg.parse::<u64>().unwrap_or(1);
    Some(match head {
        "ok" => Reply::Transcribe,
        "429" => Reply::RateLimited(RetryHint::Seconds(n)),
        "429ms" => Reply::RateLimited(RetryHint::Millis(n)),
        "quota" => Reply::OutOfQuota,
        "500" => Reply::ServerError,
        "503" => Reply::Unavailable,
        "hang" => Reply::Hang(Duration::from_secs(n)),
        "reset" => Reply::Reset,
        "malformed" => Reply::Malformed,
        "400" => Reply::BadFile,
        "401" => Reply::BadKey,
        _ => return None,
    })
}
