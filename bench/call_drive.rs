//! Seed 004's stress test, against rdio-scanner's call-upload API as
//! wavekeep serves it: `CLIENTS` concurrent uploaders (a recorder each)
//! post realistic calls for `SECS` seconds — 8 or 16 kHz mono 16-bit WAV of
//! 5 to 30 s (distinct content each), with the fields trunk-recorder sends —
//! and the run prints success, average / p50 / p95 / max latency and
//! calls/s as JSON. Every call must be answered `Call imported
//! successfully.` (anything else counts as a failure).
//!
//!   cargo bench -p server --bench call_drive -- URL KEY
//!
//! URL is the server's base (`http://127.0.0.1:3000`); `CLIENTS` (default
//! 25), `SECS` (default 60), `PACE_MS` (default 0: each uploader sends its
//! next call as soon as the last is answered; else it waits this long
//! between calls, as a real recorder does between transmissions).

use std::time::{Duration, Instant};

/// A mono 16-bit WAV of `secs` at `rate` Hz: a tone whose pitch is `n`'s.
fn call_wav(n: u64, secs: u32, rate: u32) -> Vec<u8> {
    let frames = rate * secs;
    let freq = 300.0 + (n % 700) as f64;
    let mut data = Vec::with_capacity(frames as usize * 2);
    for i in 0..frames {
        let t = f64::from(i) / f64::from(rate);
        let v = (t * freq * std::f64::consts::TAU).sin() * 6000.0 + ((n ^ u64::from(i)) % 7) as f64;
        data.extend_from_slice(&(v as i16).to_le_bytes());
    }
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

async fn upload(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    n: u64,
    wav: Vec<u8>,
) -> Result<(), String> {
    let start = 1_700_000_000 + n;
    let tg = 100 + n % 40;
    let form = reqwest::multipart::Form::new()
        .part(
            "audio",
            reqwest::multipart::Part::bytes(wav).file_name(format!("{start}-{tg}.wav")),
        )
        .text("audioName", format!("{start}-{tg}.wav"))
        .text("audioType", "audio/wav")
        .text("dateTime", start.to_string())
        .text("frequencies", "[]")
        .text("frequency", "851012500")
        .text("key", key.to_string())
        .text("patches", "[]")
        .text("talkgroup", tg.to_string())
        .text("talkgroupGroup", "Bench")
        .text("talkgroupLabel", format!("TG {tg}"))
        .text("talkgroupTag", "Dispatch")
        .text("talkgroupName", "Bench dispatch")
        .text(
            "sources",
            format!("[{{\"pos\": 0.00, \"src\": {}}}]", 1000 + n % 97),
        )
        .text("system", "1")
        .text("systemLabel", "bench");
    let res = client
        .post(url)
        .header("expect", "")
        .multipart(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if status.as_u16() == 200 && body.contains("Call imported successfully.") {
        Ok(())
    } else {
        Err(format!("{status}: {}", body.trim()))
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [base, key] = args.as_slice() else {
        eprintln!("usage: call_drive URL KEY");
        std::process::exit(2);
    };
    let url = format!("{}/api/call-upload", base.trim_end_matches('/'));
    let clients = env_number("CLIENTS", 25);
    let secs = env_number("SECS", 60);
    let pace = Duration::from_millis(env_number("PACE_MS", 0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()
        .expect("client");
    let (mut times, failed, bytes, wall) = rt.block_on(async {
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (client, url, key) = (client.clone(), url.clone(), key.clone());
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    let mut failed = 0u64;
                    let mut bytes = 0u64;
                    let mut n = c;
                    while Instant::now() < until {
                        // 5–30 s, 8 or 16 kHz, as scanners record.
                        let len = 5 + (n * 7919 % 26) as u32;
                        let rate = if n % 3 == 0 { 16_000 } else { 8_000 };
                        let wav = call_wav(n, len, rate);
                        bytes += wav.len() as u64;
                        let t = Instant::now();
                        match upload(&client, &url, &key, n, wav).await {
                            Ok(()) => times.push(t.elapsed().as_secs_f64() * 1000.0),
                            Err(e) => {
                                if failed == 0 {
                                    eprintln!("{e}");
                                }
                                failed += 1;
                            }
                        }
                        n += clients;
                        if !pace.is_zero() {
                            tokio::time::sleep(pace).await;
                        }
                    }
                    (times, failed, bytes)
                })
            })
            .collect();
        let mut times = Vec::new();
        let (mut failed, mut bytes) = (0u64, 0u64);
        for t in tasks {
            if let Ok((t, f, b)) = t.await {
                times.extend(t);
                failed += f;
                bytes += b;
            }
        }
        (times, failed, bytes, started.elapsed().as_secs_f64())
    });
    times.sort_by(f64::total_cmp);
    let q = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let avg = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let ok = times.len() as u64;
    println!(
        "{{\"clients\":{clients},\"secs\":{secs},\"ok\":{ok},\"failed\":{failed},\"success_pct\":{:.2},\"avg_ms\":{avg:.1},\"p50_ms\":{:.1},\"p95_ms\":{:.1},\"max_ms\":{:.1},\"calls_per_s\":{:.1},\"mb_per_s\":{:.1}}}",
        100.0 * ok as f64 / (ok + failed).max(1) as f64,
        q(0.5),
        q(0.95),
        q(1.0),
        ok as f64 / wall,
        bytes as f64 / 1_048_576.0 / wall
    );
}
