//! A full disk: the data directory on a small tmpfs, filled by the test.
//! An upload through the machine API or tus answers 507 and keeps no
//! partial file; a peaks file or a preview that finds no room puts its job
//! off with "disk full" (no attempt spent, no partial file); once space is
//! freed, the same upload resumes and the jobs finish.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use http::StatusCode;

use crate::helpers::{with_cookie, Backend, TestApp};
use crate::uploads::{api_key, create, hdr, head, patch, post_track, process, walk};

/// A tmpfs of `mib` MiB mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` where mounting is not allowed (not root); a failure where the
    /// test command promised it (`WAVEKEEP_TEST_REQUIRE_CLIENTS`).
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("data");
        std::fs::create_dir_all(&path).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_none(),
                "mounting a tmpfs failed (the test command runs as root)"
            );
            eprintln!("cannot mount a tmpfs here; skipping");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills `dir`'s file system, leaving about `leave` bytes free; the filler's path.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let free = free_bytes(dir);
    let mut f = std::fs::File::create(&filler).expect("filler");
    let block = vec![7u8; 64 * 1024];
    let mut left = free.saturating_sub(leave);
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        if f.write_all(&block[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = f.sync_all();
    filler
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

async fn a_full_disk_is_a_clear_error_and_nothing_partial_is_kept(b: Backend) {
    let Some(disk) = Tmpfs::mount(8) else {
        return;
    };
    let data = disk.path.clone();
    // Stored files on the small disk too, whatever the suite's storage.
    let app = TestApp::with(b, |s| {
        s.data_dir = data.clone();
        s.object_store = None;
    })
    .await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let wav = std::fs::read(crate::audio::wav(5.0)).expect("wav");
    assert!(wav.len() > 800_000, "{}", wav.len());

    // The machine API, 200 KB free: 507, nothing left behind.
    let filler = fill(&data, 200_000);
    let res = app
        .send(post_track(
            &key,
            &[("title", "Too big")],
            Some(("big.wav", &wav)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::INSUFFICIENT_STORAGE, "{}", res.text);
    assert!(res.text.contains("disk is full"), "{}", res.text);
    assert_eq!(walk(&data.join("tmp")), 0, "no partial spool file");
    assert_eq!(walk(&data.join("objects")), 0, "no partial stored file");
    assert_eq!(app.count("tracks").await, 0);

    // tus: the PATCH that runs out of room answers 507 and the offset stays.
    let url = create(&app, &cookie, wav.len(), "later.wav").await;
    let res = app.send(with_cookie(patch(&url, 0, &wav), &cookie)).await;
    assert_eq!(res.status, StatusCode::INSUFFICIENT_STORAGE, "{}", res.text);
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(hdr(&res, "upload-offset"), "0");
    assert!(
        free_bytes(&data) >= 150_000,
        "the failed PATCH gave its bytes back: {} free",
        free_bytes(&data)
    );

    // Space freed: the same upload goes through.
    std::fs::remove_file(&filler).expect("free space");
    let res = app.send(with_cookie(patch(&url, 0, &wav), &cookie)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    crate::uploads::assert_stored(&app, &wav).await;

    // Its peaks and preview find the disk full: put off, "disk full".
    let filler = fill(&data, 0);
    process(&app).await;
    let waiting: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, COALESCE(last_error, ''), attempts FROM jobs \
         WHERE kind IN ('waveform', 'preview') AND state = 'queued'",
    )
    .fetch_all(app.state.db.pool())
    .await
    .expect("jobs");
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    for (kind, error, attempts) in &waiting {
        assert!(error.contains("disk full"), "{kind}: {error}");
        assert_eq!(*attempts, 0, "{kind}: a full disk spends no attempt");
    }
    assert_eq!(walk(&data.join("derived")), 0, "no partial derived file");
    assert_eq!(walk(&data.join("tmp")), 0, "no partial spool file");

    // Space freed (and the wait over): the jobs finish.
    std::fs::remove_file(&filler).expect("free space");
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE state = 'queued'")
        .execute(app.state.db.pool())
        .await
        .expect("due now");
    process(&app).await;
    let ready: Vec<(String,)> = sqlx::query_as("SELECT status FROM track_versions")
        .fetch_all(app.state.db.pool())
        .await
        .expect("versions");
    assert_eq!(ready, vec![("ready".to_string(),)]);
    let (peaks, preview): (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT peaks_at, preview_key FROM assets")
            .fetch_one(app.state.db.pool())
            .await
            .expect("asset");
    assert!(peaks.is_some(), "peaks made once there was room");
    assert!(preview.is_some(), "preview made once there was room");
}

crate::both_backends!(a_full_disk_is_a_clear_error_and_nothing_partial_is_kept);
