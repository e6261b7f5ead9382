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
//!
//!   cargo bench -p server --bench upload_drive -- browse URL KEY
//!
//! browse: for `SECS` seconds (default 10), `CLIENTS` clients each loop over
//! a listing page (JSON; plain or a search), a track (JSON) and a 256 KiB range of
//! a track's file through its signed link, each request to the next URL in
//! the list; prints requests/s and p50/p95 per kind.
//! tus: a creation POST, then the whole file in one PATCH; with `CHUNK`
//! (bytes), PATCHes of that size, each sent to the next URL in the list
//! (so an upload's PATCHes land on every instance in turn).

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
    urls: &[reqwest::Url],
    i: usize,
    body: bytes::Bytes,
    chunk: usize,
) -> Result<(), String> {
    let url = &urls[i % urls.len()];
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
    let chunk = if chunk == 0 { body.len().max(1) } else { chunk };
    let mut offset = 0usize;
    let mut k = 0usize;
    while offset < body.len() {
        let end = (offset + chunk).min(body.len());
        // Each PATCH to the next instance, as a balancer without stickiness.
        let upload = urls[(i + k) % urls.len()]
            .join(location)
            .map_err(|e| e.to_string())?;
        let patched = client
            .patch(upload)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body.slice(offset..end))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if patched.status() != StatusCode::NO_CONTENT {
            return Err(format!("patch at {offset}: status {}", patched.status()));
        }
        offset = end;
        k += 1;
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

/// One browse request of kind `k` (0 listing, 1 track, 2 media range),
/// through `base`; whether it was answered as expected.
async fn browse_once(
    client: &reqwest::Client,
    base: &reqwest::Url,
    k: usize,
    n: usize,
    tracks: &[(i64, String)],
) -> bool {
    let (id, media) = &tracks[n % tracks.len()];
    let req = match k {
        0 if n % 2 == 0 => client.get(format!("{base}api/v1/tracks?mine=1")),
        0 => client.get(format!("{base}api/v1/tracks?mine=1&q=bench")),
        1 => client.get(format!("{base}api/v1/tracks/{id}")),
        _ => client
            .get(format!("{}{}", base.as_str().trim_end_matches('/'), media))
            .header("range", "bytes=0-262143"),
    };
    match req.send().await {
        Ok(res) => {
            let ok = res.status().is_success();
            ok && res.bytes().await.is_ok()
        }
        Err(_) => false,
    }
}

/// `browse URL KEY`: see the module's comment.
fn browse(urls: Vec<reqwest::Url>, key: &str) {
    let clients = env_number("CLIENTS", 16);
    let secs = env_number("SECS", 10) as u64;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
        headers.insert(AUTHORIZATION, v);
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The tracks to read: the first listing page's, with their links.
        let listed: serde_json::Value = client
            .get(format!("{}api/v1/tracks?mine=1", urls[0]))
            .send()
            .await
            .expect("listing")
            .json()
            .await
            .expect("json");
        let ids: Vec<i64> = listed["tracks"]
            .as_array()
            .or_else(|| listed["items"].as_array())
            .map(|a| a.iter().filter_map(|t| t["id"].as_i64()).collect())
            .unwrap_or_default();
        let mut tracks = Vec::new();
        for id in ids.into_iter().take(20) {
            let t: serde_json::Value = client
                .get(format!("{}api/v1/tracks/{id}", urls[0]))
                .send()
                .await
                .expect("track")
                .json()
                .await
                .expect("json");
            if let Some(u) = t["versions"][0]["download_url"].as_str() {
                tracks.push((id, u.to_string()));
            }
        }
        if tracks.is_empty() {
            eprintln!("browse: no tracks to read");
            std::process::exit(1);
        }
        let tracks = std::sync::Arc::new(tracks);
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (client, urls, tracks) = (client.clone(), urls.clone(), tracks.clone());
                tokio::spawn(async move {
                    let mut times: [Vec<f64>; 3] = Default::default();
                    let mut failed = 0usize;
                    let mut n = c;
                    while Instant::now() < until {
                        let k = n % 3;
                        let t = Instant::now();
                        let ok =
                            browse_once(&client, &urls[n % urls.len()], k, n / 3, &tracks).await;
                        if ok {
                            times[k].push(t.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            failed += 1;
                        }
                        n += 1;
                    }
                    (times, failed)
                })
            })
            .collect();
        let mut all: [Vec<f64>; 3] = Default::default();
        let mut failed = 0;
        for task in tasks {
            if let Ok((times, f)) = task.await {
                for (k, t) in times.into_iter().enumerate() {
                    all[k].extend(t);
                }
                failed += f;
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let total: usize = all.iter().map(Vec::len).sum();
        let mut out = format!(
            "{{\"mode\":\"browse\",\"clients\":{clients},\"req_per_s\":{:.0},\"failed\":{failed}",
            total as f64 / wall
        );
        for (k, name) in ["list", "track", "media"].iter().enumerate() {
            let t = &mut all[k];
            t.sort_by(f64::total_cmp);
            let q = |p: f64| {
                t.get(((t.len() as f64 * p) as usize).min(t.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            out.push_str(&format!(
                ",\"{name}_p50_ms\":{:.1},\"{name}_p95_ms\":{:.1}",
                q(0.5),
                q(0.95)
            ));
        }
        println!("{out}}}");
    });
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [mode, url, key] = args.as_slice() {
        if mode == "browse" {
            let urls = url
                .split(',')
                .filter_map(|u| reqwest::Url::parse(u.trim()).ok())
                .collect();
            return browse(urls, key);
        }
    }
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
    let chunk = env_number("CHUNK", 0);

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
                let all = urls.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let res = match mode {
                        Mode::Tus => tus_upload(&client, &all, i, body, chunk).await,
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
