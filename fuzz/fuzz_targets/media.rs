//! libFuzzer over wavekeep's media entry points: the bytes become a file,
//! and probe, waveform, preview and speech chunking each read it (panic
//! guards off, two seconds of budget each). An error is the file's verdict;
//! a panic, a hang (libFuzzer's `-timeout`) or a runaway allocation
//! (`-rss_limit_mb`) is a finding.

#![no_main]

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("scratch dir"))
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch().path();
    let input = dir.join("input");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("out dir");
    let mut f = std::fs::File::create(&input).expect("input");
    f.write_all(data).expect("write input");
    drop(f);
    server::media::analyze::exercise(&input, &out, Duration::from_secs(2));
});
