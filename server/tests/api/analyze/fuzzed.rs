//! The fuzz corpus as regression tests: every input in `fuzz/seeds/` (the
//! proofs of concept of Symphonia issues #483 #485 #488 #490 #508 #510,
//! rebuilt byte by byte) and `fuzz/regressions/` (what a fuzzing run found
//! and we fixed) goes through every media entry point with the panic guards
//! off, in the sandboxed media worker (its memory limit on): each must end
//! in a verdict, never a crash, a hang or a runaway allocation.

use std::path::PathBuf;
use std::time::Duration;

use server::media::sandbox::MediaPool;

fn inputs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files: Vec<PathBuf> = ["seeds", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flat_map(|it| it.flatten().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_inputs_end_in_a_verdict_not_a_crash() {
    let files = inputs();
    assert!(files.len() >= 11, "the corpus is there: {files:?}");
    let pool = MediaPool::new(env!("CARGO_BIN_EXE_wavekeep").into(), 512, 2);
    for file in &files {
        let out = tempfile::tempdir().expect("out dir");
        let verdict = pool
            .exercise(file, out.path(), Duration::from_secs(5))
            .await;
        assert!(verdict.is_ok(), "{}: {verdict:?}", file.display());
    }
}
