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
use std::convert::Infallible;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

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

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn respond(
    status: StatusCode,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
    json: bool,
) -> Answer {
    let mut res = Response::builder().status(status);
    res = res.header(
        "content-type",
        if json {
            "application/json"
        } else {
            "text/html"
        },
    );
    for (name, value) in headers {
        res = res.header(*name, value.as_str());
    }
    Ok(res.body(Full::new(body.into())).expect("response"))
}

fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Option<&str>,
    headers: &[(&str, String)],
) -> Answer {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    respond(status, headers, body.to_string(), true)
}

/// A multipart request, read.
#[derive(Default)]
struct Form {
    fields: Vec<(String, String)>,
    file: Option<(String, String, Bytes)>,
}

impl Form {
    fn get(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

async fn read_form(content_type: &str, body: Bytes) -> Result<Form, String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(file_name) = field.file_name().map(str::to_string) {
            let ct = field
                .content_type()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            if name == "file" {
                form.file = Some((file_name, ct, bytes));
            }
        } else {
            let text = field.text().await.map_err(|e| e.to_string())?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}

async fn handle(s: Arc<Shared>, req: Request<Incoming>) -> Answer {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/_fake/stats") => return stats(&s),
        ("POST", "/_fake/script") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let names: Vec<String> = body
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let replies: Vec<Reply> = names.iter().filter_map(|n| parse_reply(n)).collect();
            let n = replies.len();
            s.record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .script
                .extend(replies);
            return respond(
                StatusCode::OK,
                &[],
                json!({"scripted": n}).to_string(),
                true,
            );
        }
        ("POST", path) if path == s.opts.path => {}
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "Invalid URL (POST /v1/nothing)",
                "invalid_request_error",
                None,
                &[],
            )
        }
    }
    let at = Instant::now();
    let unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let declared: Option<usize> = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Maximum content size limit ({MAX_BODY}) exceeded ({} bytes read)",
                declared.unwrap_or_default()
            ),
            "server_error",
            None,
            &[],
        );
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let reply = s
        .record
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .script
        .pop_front()
        .unwrap_or(Reply::Transcribe);
    let hang = matches!(reply, Reply::Hang(_));
    let mut arrival = Arrival {
        at,
        unix_ms,
        ended: at,
        reply: String::new(),
        model: String::new(),
        language: None,
        response_format: String::new(),
        granularities: Vec::new(),
        file_name: String::new(),
        content_type: String::new(),
        authorization: authorization.clone(),
        body_bytes: body.len(),
        digest: String::new(),
        words: Vec::new(),
        audio_secs: 0.0,
    };
    // Recorded on arrival (a hang is seen at once), completed at the end.
    let index = {
        let mut r = s.record.lock().unwrap_or_else(|e| e.into_inner());
        if !hang {
            r.in_flight += 1;
            r.max_in_flight = r.max_in_flight.max(r.in_flight);
        }
        r.arrivals.push(Arrival {
            reply: if hang { "hang" } else { "pending" }.into(),
            ..arrival.clone()
        });
        r.arrivals.len() - 1
    };
    let answer = answer(&s, reply, &content_type, body, authorization, &mut arrival).await;
    arrival.ended = Instant::now();
    let mut r = s.record.lock().unwrap_or_else(|e| e.into_inner());
    if !hang {
        r.in_flight -= 1;
    }
    r.arrivals[index] = arrival;
    answer
}

async fn answer(
    s: &Shared,
    reply: Reply,
    content_type: &str,
    body: Bytes,
    authorization: Option<String>,
    arrival: &mut Arrival,
) -> Answer {
    if let Some(key) = &s.opts.api_key {
        if authorization.as_deref() != Some(&format!("Bearer {key}")) || reply == Reply::BadKey {
            arrival.reply = "401".into();
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided: sk-te***st. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Some("invalid_api_key"),
                &[],
            );
        }
    }
    let form = match read_form(content_type, body).await {
        Ok(f) => f,
        Err(e) => {
            arrival.reply = "400".into();
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Could not parse multipart form: {e}"),
                "invalid_request_error",
                None,
                &[],
            );
        }
    };
    arrival.model = form.get("model").unwrap_or_default();
    arrival.language = form.get("language");
    arrival.response_format = form.get("response_format").unwrap_or_else(|| "json".into());
    arrival.granularities = form
        .fields
        .iter()
        .filter(|(n, _)| n == "timestamp_granularities[]")
        .map(|(_, v)| v.clone())
        .collect();
    let Some((file_name, file_type, audio)) = form.file.clone() else {
        arrival.reply = "400".into();
        return error(
            StatusCode::BAD_REQUEST,
            "you must provide a file",
            "invalid_request_error",
            None,
            &[],
        );
    };
    arrival.file_name = file_name.clone();
    arrival.content_type = file_type;
    arrival.digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&audio))
    };
    if arrival.model.is_empty() {
        arrival.reply = "400".into();
        return error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
            &[],
        );
    }
    let limits = [
        ("x-ratelimit-limit-requests", "600".to_string()),
        ("x-ratelimit-remaining-requests", "599".to_string()),
        ("x-ratelimit-reset-requests", "100ms".to_string()),
    ];
    match reply {
        Reply::Transcribe | Reply::BadKey => {}
        Reply::RateLimited(hint) => {
            arrival.reply = "429".into();
            let headers: Vec<(&str, String)> = match hint {
                RetryHint::Seconds(n) => vec![("retry-after", n.to_string())],
                RetryHint::Millis(n) => vec![("retry-after-ms", n.to_string())],
                RetryHint::Date(ahead) => {
                    vec![(
                        "retry-after",
                        httpdate::fmt_http_date(SystemTime::now() + ahead),
                    )]
                }
                RetryHint::ResetRequests(v) => vec![
                    ("x-ratelimit-limit-requests", "50".into()),
                    ("x-ratelimit-remaining-requests", "0".into()),
                    ("x-ratelimit-reset-requests", v),
                ],
            };
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Rate limit reached for {} in organization org-test on requests per min (RPM): Limit 50, Used 50, Requested 1.",
                    arrival.model
                ),
                "requests",
                Some("rate_limit_exceeded"),
                &headers,
            );
        }
        Reply::OutOfQuota => {
            arrival.reply = "429-quota".into();
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
                &[],
            );
        }
        Reply::ServerError => {
            arrival.reply = "500".into();
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                &[],
            );
        }
        Reply::Unavailable => {
            arrival.reply = "503".into();
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                &[],
                "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                false,
            );
        }
        Reply::Hang(d) => {
            arrival.reply = "hang".into();
            tokio::time::sleep(d).await;
        }
        Reply::Reset => {
            arrival.reply = "reset".into();
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "scripted reset",
            ));
        }
        Reply::Malformed => {
            arrival.reply = "malformed".into();
            return respond(
                StatusCode::OK,
                &limits,
                "{\"task\":\"transcribe\",\"language\":\"english\",\"text\":\"alp",
                true,
            );
        }
        Reply::BadFile => {
            arrival.reply = "400".into();
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                "invalid_request_error",
                None,
                &[],
            );
        }
    }
    let ext = file_name.rsplit('.').next().unwrap_or_default().to_string();
    let heard = tokio::task::spawn_blocking(move || hear(&audio, &ext))
        .await
        .map_err(std::io::Error::other)?;
    let (tones, secs) = match heard {
        Ok(h) => h,
        Err(e) => {
            arrival.reply = "400".into();
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid file format ({e}). Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"),
                "invalid_request_error",
                None,
                &[],
            );
        }
    };
    if secs < 0.1 {
        arrival.reply = "400".into();
        return error(
            StatusCode::BAD_REQUEST,
            "Audio file is too short. Minimum audio length is 0.1 seconds.",
            "invalid_request_error",
            Some("audio_too_short"),
            &[],
        );
    }
    tokio::time::sleep(s.opts.latency).await;
    if arrival.reply.is_empty() {
        arrival.reply = "ok".into();
    }
    arrival.audio_secs = secs;
    arrival.words = tones.iter().map(|t| t.word.to_string()).collect();
    let text = arrival.words.join(" ");
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let segments: Vec<serde_json::Value> = tones
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "seek": 0, "start": round(t.start), "end": round(t.end),
                   "text": format!(" {}", t.word), "tokens": [50364, 1000 + i],
                   "temperature": 0.0, "avg_logprob": -0.21, "compression_ratio": 0.9,
                   "no_speech_prob": 0.01})
        })
        .collect();
    let body = if arrival.response_format == "verbose_json" {
        let mut v = json!({"task": "transcribe", "language": "english", "duration": round(secs),
                           "text": text, "segments": segments});
        if arrival.granularities.iter().any(|g| g == "word") {
            v["words"] = tones
                .iter()
                .map(|t| json!({"word": t.word, "start": round(t.start), "end": round(t.end)}))
                .collect();
        }
        v
    } else {
        json!({"text": text})
    };
    respond(StatusCode::OK, &limits, body.to_string(), true)
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

/// A tone heard: a word and when (seconds from the file's start).
#[derive(Debug, Clone, PartialEq)]
pub struct Tone {
    pub word: &'static str,
    pub start: f64,
    pub end: f64,
    pub hz: f64,
}

/// Decodes `audio` and finds its tones (and the audio's length in seconds).
pub fn hear(audio: &[u8], ext: &str) -> Result<(Vec<Tone>, f64), String> {
    let (samples, rate) = decode(audio, ext)?;
    Ok((
        tones(&samples, rate),
        samples.len() as f64 / f64::from(rate.max(1)),
    ))
}

/// Mono samples of a file, as a recognizer's decoder gives them (encoder
/// delay and padding trimmed when the file says how much).
pub fn decode(audio: &[u8], ext: &str) -> Result<(Vec<f32>, u32), String> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
    use symphonia::core::meta::MetadataOptions;

    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(audio.to_vec())),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.as_ref().and_then(|p| p.audio()).is_some())
        .cloned()
        .ok_or("no audio track")?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or("no audio track")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut rate = params.sample_rate.unwrap_or(16_000);
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        };
        if packet.track_id != track.id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(Error::DecodeError(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        rate = buf.spec().rate();
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let ch = planes.len().max(1) as f32;
        out.extend((0..buf.frames()).map(|i| planes.iter().map(|p| p[i]).sum::<f32>() / ch));
    }
    Ok((out, rate))
}

/// The tones in `samples`: runs of 10 ms frames louder than silence, each
/// named by its pitch (zero crossings).
pub fn tones(samples: &[f32], rate: u32) -> Vec<Tone> {
    let frame = (rate / 100).max(1) as usize;
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.04)
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if !loud[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < loud.len() && loud[i] {
            i += 1;
        }
        // Shorter than 60 ms: a click, not a word.
        if i - first < 6 {
            continue;
        }
        let (a, b) = (first * frame, (i * frame).min(samples.len()));
        let run = &samples[a..b];
        let crossings = run
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        let secs = run.len() as f64 / f64::from(rate);
        let hz = crossings as f64 / 2.0 / secs;
        let k = ((hz - 400.0) / 100.0)
            .round()
            .clamp(0.0, (WORDS.len() - 1) as f64) as usize;
        found.push(Tone {
            word: WORDS[k],
            start: a as f64 / f64::from(rate),
            end: b as f64 / f64::from(rate),
            hz,
        });
    }
    found
}
