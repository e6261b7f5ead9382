//! Listening (issue 22): what the player gets for a track (a stream link
//! for the viewer, the version asked for, the small waveform), and where
//! each user stopped in long tracks: per user, throttled, rate-bounded and
//! gone with the track.

use http::StatusCode;

use super::insert_track;
use crate::audio;
use crate::helpers::{form, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track, process};

const LONG: i64 = 2 * 3600 * 1000;

async fn save(app: &TestApp, who: Option<&str>, id: i64, ms: i64) -> (StatusCode, String) {
    let req = form(
        "/api/player/position",
        &[("id", &id.to_string()), ("position_ms", &ms.to_string())],
    );
    let req = match who {
        Some(c) => with_cookie(req, c),
        None => req,
    };
    let res = app.send(req).await;
    (res.status, res.text)
}

async fn resume(app: &TestApp, who: &str, id: i64) -> Option<i64> {
    let res = app
        .send(with_cookie(
            form("/api/tracks/get", &[("id", &id.to_string())]),
            who,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.json()["resume_ms"].as_i64()
}

async fn positions(app: &TestApp, track: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM play_positions WHERE track_id = $1")
        .bind(track)
        .fetch_one(app.state.db.pool())
        .await
        .expect("count")
}

async fn positions_are_per_user_throttled_and_go_with_the_track(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let ana_id = crate::helpers::user_id(&app, "ana@example.com").await;
    let private = insert_track(&app, ana_id, "Private talk", "", "private", Some(LONG), 1).await;
    let public = insert_track(&app, ana_id, "Public talk", "", "public", Some(LONG), 2).await;
    let short = insert_track(&app, ana_id, "Jingle", "", "public", Some(60_000), 3).await;

    // Ana's position is hers: remembered, shown on her track page only.
    assert_eq!(
        save(&app, Some(&ana), private, 83_000).await,
        (StatusCode::OK, "true".into())
    );
    assert_eq!(resume(&app, &ana, private).await, Some(83_000));
    // A second write within 5 s is dropped (the database decides).
    assert_eq!(save(&app, Some(&ana), private, 90_000).await.1, "false");
    assert_eq!(resume(&app, &ana, private).await, Some(83_000));
    // Bob can neither write nor read hers.
    assert_eq!(
        save(&app, Some(&bob), private, 10_000).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(save(&app, Some(&bob), public, 50_000).await.1, "true");
    assert_eq!(resume(&app, &bob, public).await, Some(50_000));
    assert_eq!(resume(&app, &ana, public).await, None);
    // Signed out: nothing kept. Short tracks: nothing kept. Bad input: 400.
    assert_eq!(save(&app, None, public, 50_000).await.1, "false");
    assert_eq!(save(&app, Some(&ana), short, 30_000).await.1, "false");
    assert_eq!(positions(&app, short).await, 0);
    assert_eq!(
        save(&app, Some(&ana), public, -5).await.0,
        StatusCode::BAD_REQUEST
    );
    // Heard to the end (or started over): forgotten.
    assert_eq!(save(&app, Some(&bob), public, LONG - 5_000).await.1, "true");
    assert_eq!(resume(&app, &bob, public).await, None);

    // At most 60 writes a minute per user, over every track (fixed
    // windows: 130 attempts span at most two, so some must be refused).
    let mut statuses = Vec::new();
    for i in 0..130 {
        let id = insert_track(&app, ana_id, "Many", "", "public", Some(LONG), 100 + i).await;
        statuses.push(save(&app, Some(&ana), id, 1_000 + i).await.0);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(ok + limited, 130, "{statuses:?}");
    assert!(
        limited >= 10 && ok <= 118,
        "{ok} written, {limited} refused"
    );
    // The first refusal came after 58 writes (ana wrote twice above), or
    // later when a new minute began meanwhile.
    let first = statuses
        .iter()
        .position(|s| *s == StatusCode::TOO_MANY_REQUESTS);
    assert!(first.is_some_and(|i| i >= 58), "{first:?}");

    // Deleting the track deletes every position in it.
    assert_eq!(positions(&app, private).await, 1);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &private.to_string())]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(positions(&app, private).await, 0);
}

async fn the_player_gets_links_versions_and_small_waveforms(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let key = api_key(&app, &ana).await;
    let mp3 = std::fs::read(audio::mp3(2.0)).expect("mp3");
    let flac = std::fs::read(audio::flac(1.0)).expect("flac");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Demo")],
            Some(("demo.mp3", &mp3)),
        ))
        .await;
    let j = res.json();
    let id = j["id"].as_i64().expect("id");
    let v1 = j["version_id"].as_i64().expect("version");
    let res = app
        .send(post_track(
            &key,
            &[("target", "version"), ("track_id", &id.to_string())],
            Some(("demo-2.flac", &flac)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let v2 = res.json()["version_id"].as_i64().expect("version 2");
    process(&app).await;

    // The list carries each row's small waveform: 64 letters.
    let res = app
        .send(with_cookie(
            form(
                "/api/tracks/list",
                &[
                    ("query[mine]", "true"),
                    ("query[q]", ""),
                    ("query[sort]", "Newest"),
                ],
            ),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let wave = res.json()["items"][0]["wave"]
        .as_str()
        .expect("wave")
        .to_string();
    assert_eq!(wave.len(), 64, "{wave}");
    assert!(wave.bytes().all(|c| c.is_ascii_lowercase()), "{wave}");
    assert!(wave.contains('z'), "the loudest bar is full height: {wave}");

    let item = |who: &str, version: Option<i64>| {
        let mut fields = vec![("id", id.to_string())];
        if let Some(v) = version {
            fields.push(("version_id", v.to_string()));
        }
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_cookie(form("/api/player/item", &fields), who)
    };
    // The current version (the newest), with a link that plays.
    let res = app.send(item(&ana, None)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let info = res.json();
    assert_eq!(info["version_id"], v2);
    assert_eq!(info["version"], 2);
    assert_eq!(info["title"], "Demo");
    assert_eq!(info["wave"].as_str().map(str::len), Some(64));
    let src = info["src"].as_str().expect("src");
    let res = app.send(crate::helpers::get(src)).await;
    assert_eq!(res.status, StatusCode::OK);
    // Another version of the same track, for comparing.
    let res = app.send(item(&ana, Some(v1))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json()["version"], 1);
    assert_ne!(res.json()["src"], info["src"]);
    // A version of nothing here, or someone else's private track: 404.
    assert_eq!(
        app.send(item(&ana, Some(v2 + 1000))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(item(&bob, None)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(form("/api/player/item", &[("id", &id.to_string())]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The track page offers each version's link.
    let res = app
        .send(with_cookie(
            form("/api/tracks/get", &[("id", &id.to_string())]),
            &ana,
        ))
        .await;
    let versions = res.json()["versions"]
        .as_array()
        .cloned()
        .expect("versions");
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v["playback"]["src"].is_string()));
    assert!(versions
        .iter()
        .all(|v| v["asset"]["mini_wave"].as_str().map(str::len) == Some(64)));
}

async fn files_stored_before_small_waveforms_get_theirs(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let mp3 = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Old")],
            Some(("old.mp3", &mp3)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    process(&app).await;
    sqlx::query("UPDATE assets SET mini_wave = NULL")
        .execute(app.state.db.pool())
        .await
        .expect("forget");
    app::jobs::db::enqueue_unbounded(&app.state.db, &server::worker::cleanup::new_job())
        .await
        .expect("enqueue");
    process(&app).await;
    let wave: Option<String> = sqlx::query_scalar("SELECT mini_wave FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("wave");
    assert_eq!(wave.map(|w| w.len()), Some(64));
}

crate::both_backends!(
    positions_are_per_user_throttled_and_go_with_the_track,
    the_player_gets_links_versions_and_small_waveforms,
    files_stored_before_small_waveforms_get_theirs,
);
