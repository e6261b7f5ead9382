//! `wavekeep import DIR`: the real binary on a generated folder — nested
//! folders, three formats, a copy and a link to a file inside (the same
//! content: one track), a link to a file outside (never followed), a file
//! named as audio that is not, and files that are no audio at all. Exactly
//! the right set is imported, and a second run imports nothing more.

use std::process::Command;

use crate::audio;
use http::StatusCode;

use crate::helpers::{get, with_cookie, Backend, TestApp};

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
    fill(root.path(), outside.path());
    (root, outside)
}

/// The folder's files under `r`, and one file in `outside` linked to.
fn fill(r: &std::path::Path, outside: &std::path::Path) {
    std::fs::create_dir_all(r.join("live/2024")).expect("mkdir");
    std::fs::copy(audio::wav(1.0), r.join("take one.wav")).expect("wav");
    std::fs::copy(audio::mp3(1.5), r.join("live/set.mp3")).expect("mp3");
    std::fs::copy(audio::flac(2.0), r.join("live/2024/encore.flac")).expect("flac");
    // The same content again: a copy and a link inside.
    std::fs::copy(audio::wav(1.0), r.join("live/copy.wav")).expect("copy");
    std::os::unix::fs::symlink(r.join("take one.wav"), r.join("link-inside.wav")).expect("link");
    // A link out of the folder is never followed.
    std::fs::copy(audio::flac(3.0), outside.join("secret.flac")).expect("outside");
    std::os::unix::fs::symlink(outside.join("secret.flac"), r.join("escape.flac"))
        .expect("link out");
    std::os::unix::fs::symlink(outside, r.join("escape-dir")).expect("dir link");
    // Tagged files with a cover, in two more formats (titles from the tags
    // once processed; one cover image for both).
    let jpg = crate::library::cover(outside, "cover.jpg", 300, 300);
    crate::library::tagged(
        &r.join("live"),
        "tagged.mp3",
        &["-c:a", "libmp3lame"],
        Some(&jpg),
    );
    crate::library::tagged(
        &r.join("live/2024"),
        "tagged.m4a",
        &["-c:a", "aac"],
        Some(&jpg),
    );
    // Named as audio, but not.
    std::fs::write(r.join("broken.mp3"), b"this was never an mp3 file").expect("broken");
    // Not audio at all.
    std::fs::write(r.join("notes.txt"), b"set list").expect("txt");
    std::fs::write(
        r.join("cover.jpg"),
        [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F'],
    )
    .expect("jpg");
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
        err.contains("5 files would be imported, 2 already there"),
        "{err}"
    );
    assert_eq!(app.count("tracks").await, 0);

    let (ok, err) = import(
        &app,
        root.path(),
        &["--tags", "live, archive", "--visibility", "unlisted"],
    );
    assert!(!ok, "one file failed, so the command does: {err}");
    assert!(err.contains("Imported 5 files"), "{err}");
    assert!(err.contains("2 already there"), "{err}");
    assert!(err.contains("broken.mp3: not an audio file"), "{err}");
    assert_eq!(
        titles(&app).await,
        vec!["encore", "set", "tagged", "tagged", "take one"]
    );
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
    assert_eq!(jobs, 5);

    // Again: nothing new.
    let (_, err) = import(&app, root.path(), &[]);
    assert!(err.contains("Imported 0 files"), "{err}");
    assert!(err.contains("7 already there"), "{err}");
    assert_eq!(app.count("tracks").await, 5);
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

fn post_import(cookie: &str, body: serde_json::Value) -> http::Request<axum::body::Body> {
    with_cookie(
        http::Request::post("/api/admin/import")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .expect("req"),
        cookie,
    )
}

/// `POST /api/admin/import`: admins only, folders inside the import root
/// only (no `..`, no absolute path or link out of it), progress in the
/// `imports` table as it goes, the same set imported as by the command.
async fn admins_import_server_folders_inside_the_import_root(b: Backend) {
    let base = tempfile::tempdir().expect("base");
    let outside = tempfile::tempdir().expect("outside");
    std::fs::create_dir_all(base.path().join("music")).expect("mkdir");
    fill(&base.path().join("music"), outside.path());
    // A tagged file with cover art, deeper in.
    let art_dir = tempfile::tempdir().expect("art");
    let jpg = crate::library::cover(art_dir.path(), "cover.jpg", 300, 300);
    crate::library::tagged(
        &base.path().join("music/live/2024"),
        "tagged.flac",
        &["-c:a", "flac"],
        Some(&jpg),
    );
    let import_root = base.path().to_path_buf();
    let app = TestApp::with(b, |s| s.import_root = Some(import_root)).await;
    let admin = app.admin("root@example.com").await;
    let ana = app.register("ana@example.com").await;
    let body = |dir: &str| serde_json::json!({ "dir": dir, "email": "ana@example.com", "visibility": "unlisted" });

    let res = app.send(post_import(&ana, body("music"))).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    for bad in ["../", "music/../..", "/etc", "nothing-here"] {
        let res = app.send(post_import(&admin, body(bad))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}: {}", res.text);
    }
    let res = app
        .send(post_import(
            &admin,
            serde_json::json!({ "dir": "music", "email": "nobody@example.com" }),
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    assert!(res.text.contains("no account"), "{}", res.text);

    let res = app.send(post_import(&admin, body("music"))).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");
    let mut row = serde_json::Value::Null;
    for _ in 0..200 {
        let list = app
            .send(with_cookie(get("/api/admin/imports"), &admin))
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        row = list.json()[0].clone();
        if row["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(row["id"], id);
    assert_eq!(row["status"], "done", "{row}");
    assert_eq!(row["email"], "ana@example.com");
    assert_eq!(row["imported"], 6, "{row}");
    assert_eq!(row["skipped"], 2, "{row}");
    assert_eq!(row["failed"], 1, "{row}");
    assert_eq!(row["total"], 9, "{row}");
    assert_eq!(row["done"], 9, "{row}");
    assert!(
        row["errors"][0][0]
            .as_str()
            .unwrap_or("")
            .ends_with("broken.mp3"),
        "{row}"
    );
    assert_eq!(
        titles(&app).await,
        vec!["encore", "set", "tagged", "tagged", "tagged", "take one"]
    );
    // Processed: the tagged files' titles, artists and art come from them
    // (MP3, M4A and FLAC; the same cover in the three is one image).
    crate::uploads::process(&app).await;
    let (n, arts): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT art_token) FROM tracks \
         WHERE title = 'Harbour Lights' AND artist = 'The Quiet Tides' AND art_token IS NOT NULL",
    )
    .fetch_one(app.state.db.pool())
    .await
    .expect("the tagged tracks");
    assert_eq!((n, arts), (3, 1));
    let vis: Vec<String> = sqlx::query_scalar("SELECT visibility FROM tracks")
        .fetch_all(app.state.db.pool())
        .await
        .expect("vis");
    assert!(vis.iter().all(|v| v == "unlisted"), "{vis:?}");
    // The dashboard's snapshot carries it.
    let perf = app
        .send(with_cookie(get("/api/admin/performance"), &admin))
        .await;
    assert_eq!(perf.json()["imports"][0]["id"], id, "{}", perf.text);

    // Without an import root, nothing can be imported this way.
    let off = TestApp::new(b).await;
    let admin = off.admin("root@example.com").await;
    let res = off.send(post_import(&admin, body("music"))).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    assert!(res.text.contains("WAVEKEEP_IMPORT_ROOT"), "{}", res.text);
}

crate::both_backends!(
    a_folder_is_imported_once_and_only_its_audio,
    admins_import_server_folders_inside_the_import_root,
);
