//! The fake's HTTP side: OpenAI's multipart request read, the scripted
//! replies and the transcript answered in `verbose_json` or `json`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::*;

pub(super) type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

pub(super) fn respond(
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

pub(super) async fn handle(s: Arc<Shared>, req: Request<Incoming>) -> Answer {
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
    let heard = tokio::task::spawn_blocking(move || {
        // The provider is someone else's machine: on this one its listening
        // yields the CPU to the server under test (Linux: this thread only).
        let _ = rustix::process::setpriority_process(None, 10);
        hear(&audio, &ext)
    })
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
