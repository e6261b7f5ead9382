//! The test suite's speech-to-text provider as a process of its own: it
//! speaks OpenAI's `POST /v1/audio/transcriptions` on loopback and "hears"
//! tones as words (see `tests/support/fake_stt/`). The browser tests run
//! wavekeep against it, and it lets anyone try transcription by hand:
//!
//! ```text
//! cargo run -p server --example fake_stt -- --addr 127.0.0.1:8090 --latency-ms 300
//! WAVEKEEP_STT_URL=http://127.0.0.1:8090/v1 cargo run -p server
//! ```
//!
//! `GET /_fake/stats` shows what it received; `POST /_fake/script` with a
//! JSON list (`["429:5", "500", "hang:30", "reset", "malformed", "400"]`)
//! scripts the next answers.

#[path = "../tests/support/fake_stt/mod.rs"]
mod fake_stt;

use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: fake_stt [--addr 127.0.0.1:0] [--latency-ms 20] [--key KEY] [--path /v1/audio/transcriptions]");
    std::process::exit(2);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut addr = "127.0.0.1:0".to_string();
    let mut opts = fake_stt::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value,
            "--latency-ms" => {
                opts.latency = Duration::from_millis(value.parse().unwrap_or_else(|_| usage()));
            }
            "--key" => opts.api_key = Some(value),
            "--path" => opts.path = value,
            _ => usage(),
        }
    }
    if !addr.starts_with("127.") && !addr.starts_with("[::1]") && !addr.starts_with("localhost") {
        eprintln!("fake_stt listens on loopback only");
        std::process::exit(2);
    }
    let fake = fake_stt::FakeStt::start_on(&addr, opts).await;
    println!("{}", fake.url);
    let _ = tokio::signal::ctrl_c().await;
}
