//! Upload load generator with little client overhead: N concurrent clients
//! each upload one file of SIZE bytes (distinct random content), and the run
//! prints success, latency p50/p95/max and throughput as JSON, in the same
//! shape as `bench/uploads/drive.mjs`. The Node driver shares the two cores
//! with the server and spends more CPU than the server does; this one shows
//! what the server itself sustains, against wavekeep and against the tus
//! reference server alike.
//!
//!   cargo bench -p server --bench upload_drive -- tus URL [KEY]
//!   cargo bench -p server --bench upload_drive -- multipart URL KEY
//!
//! URL may list several addresses separated by commas (instances of one
//! deployment): client i sends to the i-th, round robin, as a balancer
//! without sticky sessions would.
//!
//! `CLIENTS` (default 100) and `SIZE` (default 1048576) as for drive.mjs.
//! tus: a creation POST, then the whole file in one PATCH.

use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::StatusCode;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Tus,
    Multipart,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn tus_upload(
    client: &reqwest::Client,
    url: &reqwest::Url,
    i: usize,
    body: bytes::Bytes,
) -> Result<(), String> {
    let name = base64::engine::general_purpose::STANDARD.encode(format!("bench-{i}.wav"));
    let created = client
        .post(url.clone())
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", body.len().to_string())
        .header("Upload-Metadata", format!("filename {name}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if created.status() != StatusCode::CREATED {
        return Err(format!("create: status {}", created.status()));
    }
    let location = created
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("create: no Location")?;
    let upload = url.join(location).map_err(|e| e.to_string())?;
    let patched = client
        .patch(upload)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if patched.status() != StatusCode::NO_CONTENT {
        return Err(format!("patch: status {}", patched.status()));
    }
    Ok(())
}

async fn multipart_upload(
    client: &reqwest::Client,
    url: &reqwest::Url,
    i: usize,
    body: bytes::Bytes,
) -> Result<(), String> {
    let len = body.len() as u64;
    let part =
        reqwest::multipart::Part::stream_with_length(body, len).file_name(format!("bench-{i}.wav"));
    let form = reqwest::multipart::Form::new()
        .text("title", format!("bench {i}"))
        .part("audio", part);
    let res = client
        .post(url.clone())
        .multipart(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != StatusCode::ACCEPTED {
        let status = res.status();
        return Err(format!(
            "status {status}: {}",
            res.text().await.unwrap_or_default()
        ));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (mode, url, key) = match args.as_slice() {
        [mode, url, rest @ ..] if rest.len() <= 1 => {
            let mode = match mode.as_str() {
                "tus" => Mode::Tus,
                "multipart" => Mode::Multipart,
                other => {
                    eprintln!("unknown mode {other}: tus or multipart");
                    std::process::exit(2);
                }
            };
            (mode, url.clone(), rest.first().cloned())
        }
        _ => {
            eprintln!("usage: upload_drive tus|multipart URL [KEY]");
            std::process::exit(2);
        }
    };
    let urls: Vec<reqwest::Url> = url
        .split(',')
        .map(|u| {
            reqwest::Url::parse(u.trim()).unwrap_or_else(|_| {
                eprintln!("not a URL: {u}");
                std::process::exit(2);
            })
        })
        .collect();
    let clients = env_number("CLIENTS", 100);
    let size = env_number("SIZE", 1024 * 1024);

    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        match HeaderValue::from_str(&format!("Bearer {key}")) {
            Ok(v) => headers.insert(AUTHORIZATION, v),
            Err(_) => {
                eprintln!("the key is not a header value");
                std::process::exit(2);
            }
        };
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bodies: Vec<bytes::Bytes> = (0..clients)
        .map(|_| {
            let mut b = vec![0u8; size];
            rand::rng().fill_bytes(&mut b);
            bytes::Bytes::from(b)
        })
        .collect();

    let (mut times, failed, wall) = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let client = client.clone();
                let url = urls[i % urls.len()].clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let res = match mode {
                        Mode::Tus => tus_upload(&client, &url, i, body).await,
                        Mode::Multipart => multipart_upload(&client, &url, i, body).await,
                    };
                    res.map(|()| t.elapsed())
                })
            })
            .collect();
        let mut times = Vec::new();
        let mut failed = 0usize;
        for task in tasks {
            match task.await {
                Ok(Ok(d)) => times.push(d.as_secs_f64() * 1000.0),
                Ok(Err(e)) => {
                    if failed == 0 {
                        eprintln!("{e}");
                    }
                    failed += 1;
                }
                Err(e) => {
                    eprintln!("{e}");
                    failed += 1;
                }
            }
        }
        (times, failed, start.elapsed().as_secs_f64())
    });
    times.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if times.is_empty() {
            f64::NAN
        } else {
            times[((times.len() as f64 * p) as usize).min(times.len() - 1)]
        }
    };
    let mode = match mode {
        Mode::Tus => "tus",
        Mode::Multipart => "multipart",
    };
    println!(
        "{{\"mode\":\"{mode}\",\"client\":\"rust\",\"clients\":{clients},\"size\":{size},\"ok\":{},\"failed\":{failed},\"p50_ms\":{:.1},\"p95_ms\":{:.1},\"max_ms\":{:.1},\"mb_per_s\":{:.1},\"wall_s\":{:.2}}}",
        times.len(),
        q(0.5),
        q(0.95),
        q(1.0),
        (times.len() * size) as f64 / 1_048_576.0 / wall,
        wall
    );
}
