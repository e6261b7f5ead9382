//! The stems panel: nothing loads before it opens; the "all stems" zip
//! streams as it is written.

use http::StatusCode;

use crate::audio;
use crate::helpers::{form, get, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track, process};

async fn stems_load_on_demand_and_zip_as_they_stream(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let key = api_key(&app, &ana).await;
    let mp3 = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let flac = std::fs::read(audio::flac(1.0)).expect("flac");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Mix")],
            Some(("mix.mp3", &mp3)),
        ))
        .await;
    let j = res.json();
    let (id, version) = (
        j["id"].as_i64().expect("id"),
        j["version_id"].as_i64().expect("v"),
    );
    for (role, name, bytes) in [("drums", "d.flac", &flac), ("bass", "b.mp3", &mp3)] {
        let res = app
            .send(post_track(
                &key,
                &[
                    ("target", "stem"),
                    ("version_id", &version.to_string()),
                    ("role", role),
                ],
                Some((name, bytes)),
            ))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    }
    process(&app).await;

    // The track page says how many, without the stems themselves.
    let t = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json();
    assert_eq!(t["stem_count"], 2);
    let v = version.to_string();
    assert_eq!(
        app.send(form("/api/tracks/stems", &[("version_id", &v)]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(with_cookie(
            form("/api/tracks/stems", &[("version_id", &v)]),
            &bob
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let res = app
        .send(with_cookie(
            form("/api/tracks/stems", &[("version_id", &v)]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let panel = res.json();
    let stems = panel["stems"].as_array().expect("stems");
    assert_eq!(stems.len(), 2);
    assert_eq!(stems[0]["role"], "bass");
    assert!(stems[0]["stream_url"].as_str().is_some());
    let zip_url = panel["zip_url"].as_str().expect("zip").to_string();

    let res = app.send(get(&zip_url)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.header("content-type"), "application/zip");
    assert!(res.header("content-disposition").contains("stems.zip"));
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("stems.zip");
    std::fs::write(&zip, &res.bytes).expect("write zip");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile, hashlib\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor i in sorted(z.infolist(), key=lambda i: i.filename): print(i.filename, i.file_size, hashlib.sha256(z.read(i)).hexdigest())",
        ])
        .arg(&zip)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    use sha2::Digest;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].starts_with("mix-") && lines[0].contains("-bass.mp3"),
        "{listing}"
    );
    assert!(
        lines[0].ends_with(&hex::encode(sha2::Sha256::digest(&mp3))),
        "{listing}"
    );
    assert!(lines[1].contains("-drums.flac"), "{listing}");
    assert!(
        lines[1].ends_with(&hex::encode(sha2::Sha256::digest(&flac))),
        "{listing}"
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM downloads")
        .fetch_all(app.state.db.pool())
        .await
        .expect("downloads");
    assert_eq!(kinds, vec!["stems"]);

    // Twenty stems at most per version.
    let asset: i64 = sqlx::query_scalar("SELECT asset_id FROM stems LIMIT 1")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    for i in 0..18 {
        sqlx::query(
            "INSERT INTO stems (version_id, role, asset_id, created_at) VALUES ($1, $2, $3, 0)",
        )
        .bind(version)
        .bind(format!("extra{i}"))
        .bind(asset)
        .execute(app.state.db.pool())
        .await
        .expect("stem");
    }
    let res = app
        .send(post_track(
            &key,
            &[
                ("target", "stem"),
                ("version_id", &v),
                ("role", "one-too-many"),
            ],
            Some(("x.mp3", &mp3)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    assert!(res.text.contains("20"), "{}", res.text);
}

crate::both_backends!(stems_load_on_demand_and_zip_as_they_stream,);
