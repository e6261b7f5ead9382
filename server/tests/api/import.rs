//! `wavekeep import DIR`: the real binary on a generated folder — nested
//! folders, three formats, a copy and a link to a file inside (the same
//! content: one track), a link to a file outside (never followed), a file
//! named as audio that is not, and files that are no audio at all. Exactly
//! the right set is imported, and a second run imports nothing more.

use std::process::Command;

use crate::audio;
use crate::helpers::{Backend, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_wavekeep");

/// Runs `wavekeep import` on `app`'s database and data; (success, stderr).
fn import(app: &TestApp, dir: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("import")
        .arg(dir)
        .args(["--email", "ana@example.com", "--jobs", "2"])
        .args(extra)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("WAVEKEEP_DATA_DIR", &app.state.settings.data_dir)
        .env("WAVEKEEP_LOG", "warn")
        .output()
        .expect("run wavekeep import");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn folder() -> (tempfile::TempDir, tempfile::TempDir) {
    let root = tempfile::tempdir().expect("dir");
    let outside = tempfile::tempdir().expect("outside");
    let r = root.path();
    std::fs::create_dir_all(r.join("live/2024")).expect("mkdir");
    std::fs::copy(audio::wav(1.0), r.join("take one.wav")).expect("wav");
    std::fs::copy(audio::mp3(1.5), r.join("live/set.mp3")).expect("mp3");
    std::fs::copy(audio::flac(2.0), r.join("live/2024/encore.flac")).expect("flac");
    // The same content again: a copy and a link inside.
    std::fs::copy(audio::wav(1.0), r.join("live/copy.wav")).expect("copy");
    std::os::unix::fs::symlink(r.join("take one.wav"), r.join("link-inside.wav")).expect("link");
    // A link out of the folder is never followed.
    std::fs::copy(audio::flac(3.0), outside.path().join("secret.flac")).expect("outside");
    std::os::unix::fs::symlink(outside.path().join("secret.flac"), r.join("escape.flac"))
        .expect("link out");
    std::os::unix::fs::symlink(outside.path(), r.join("escape-dir")).expect("dir link");
    // Named as audio, but not.
    std::fs::write(r.join("broken.mp3"), b"this was never an mp3 file").expect("broken");
    // Not audio at all.
    std::fs::write(r.join("notes.txt"), b"set list").expect("txt");
    std::fs::write(
        r.join("cover.jpg"),
        [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F'],
    )
    .expect("jpg");
    (root, outside)
}

async fn titles(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT title FROM tracks ORDER BY title")
        .fetch_all(app.state.db.pool())
        .await
        .expect("titles")
}

async fn a_folder_is_imported_once_and_only_its_audio(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("ana@example.com").await;
    let (root, _outside) = folder();

    // A dry run imports nothing and says what it would do.
    let (ok, err) = import(&app, root.path(), &["--dry-run"]);
    assert!(!ok, "broken.mp3 fails even in a dry run: {err}");
    assert!(
        err.contains("3 files would be imported, 2 already there"),
        "{err}"
    );
    assert_eq!(app.count("tracks").await, 0);

    let (ok, err) = import(
        &app,
        root.path(),
        &["--tags", "live, archive", "--visibility", "unlisted"],
    );
    assert!(!ok, "one file failed, so the command does: {err}");
    assert!(err.contains("Imported 3 files"), "{err}");
    assert!(err.contains("2 already there"), "{err}");
    assert!(err.contains("broken.mp3: not an audio file"), "{err}");
    assert_eq!(titles(&app).await, vec!["encore", "set", "take one"]);
    let (tags, visibility): (String, String) =
        sqlx::query_as("SELECT tags, visibility FROM tracks WHERE title = 'set'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("track");
    assert_eq!(
        (tags.as_str(), visibility.as_str()),
        ("live, archive", "unlisted")
    );
    // Each got its jobs, as an upload does.
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'metadata'")
        .fetch_one(app.state.db.pool())
        .await
        .expect("jobs");
    assert_eq!(jobs, 3);

    // Again: nothing new.
    let (_, err) = import(&app, root.path(), &[]);
    assert!(err.contains("Imported 0 files"), "{err}");
    assert!(err.contains("5 already there"), "{err}");
    assert_eq!(app.count("tracks").await, 3);
    // The user's files are where they were.
    assert!(root.path().join("take one.wav").exists());

    // No such account, no such folder: clear errors.
    let out = Command::new(BIN)
        .args([
            "import",
            "/nonexistent/folder",
            "--email",
            "nobody@example.com",
        ])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("WAVEKEEP_DATA_DIR", &app.state.settings.data_dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account with email nobody@example.com")
    );
}

crate::both_backends!(a_folder_is_imported_once_and_only_its_audio);
