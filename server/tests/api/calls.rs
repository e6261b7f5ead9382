//! rdio-scanner's call-upload API as the recorders send it: trunk-recorder's
//! exact request (curl, as its uploader plugin builds it: the same parts in
//! the same order, an empty `Expect:`), sdrtrunk's (its own multipart
//! framing, the audio last, and its `test=1` connection probe), every 417
//! and 401 answer, key scopes, a call sent twice stored once, and the calls
//! listing with its filters.

use crate::audio;
use crate::helpers::{Backend, TestApp};

/// A user with an API key; (key secret, key id, user id), and the user's
/// session cookie.
async fn keyed_in(app: &TestApp, email: &str) -> ((String, i64, i64), String) {
    let cookie = app.register(email).await;
    let k = app::auth::service::create_api_key_for_email(&app.state, email, "scanner")
        .await
        .expect("key");
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.state.db.pool())
        .await
        .expect("user");
    ((k.secret, k.key.id, user), cookie)
}

/// A user with an API key; (key secret, key id, user id).
async fn keyed(app: &TestApp, email: &str) -> (String, i64, i64) {
    keyed_in(app, email).await.0
}

/// trunk-recorder's upload, part for part (plugins/rdioscanner_uploader):
/// curl with `Expect:` emptied; returns (status, body).
fn trunk_recorder(
    url: &str,
    key: &str,
    wav: &std::path::Path,
    tg: &str,
    start: &str,
) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", "Expect:", "-H", "User-Agent: TrunkRecorder1.0"])
        .arg("-F")
        .arg(format!(
            "audio=@{};filename=1700000000-101_851000000.wav;type=application/octet-stream",
            wav.display()
        ))
        .args(["--form-string", "audioName=1700000000-101_851000000.wav"])
        .args(["--form-string", "audioType=audio/wav"])
        .args(["--form-string", &format!("dateTime={start}")])
        .args([
            "--form-string",
            r#"frequencies=[{"freq": 851000000, "time": 1700000000, "pos": 0.00, "len": 2.50, "errorCount": 0, "spikeCount": 0}]"#,
        ])
        .args(["--form-string", "frequency=851000000"])
        .args(["--form-string", &format!("key={key}")])
        .args(["--form-string", "patches=[]"])
        .args(["--form-string", &format!("talkgroup={tg}")])
        .args(["--form-string", "talkgroupGroup=Fire"])
        .args(["--form-string", "talkgroupLabel=FD Dispatch"])
        .args(["--form-string", "talkgroupTag=Fire Dispatch"])
        .args(["--form-string", "talkgroupName=Fire Department Dispatch"])
        .args(["--form-string", r#"sources=[{ "pos": 0.00, "src": 1234 }]"#])
        .args(["--form-string", "system=1"])
        .args(["--form-string", "systemLabel=metro"])
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.parse().expect("status"), body.to_string())
}

/// sdrtrunk's multipart framing (RdioScannerBuilder): boundary
/// `--sdrtrunk-sdrtrunk-sdrtrunk`, text parts without a type, the audio
/// last with `filename` before `name`.
fn sdrtrunk_body(parts: &[(&str, &str)], audio: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "--sdrtrunk-sdrtrunk-sdrtrunk";
    let mut body = Vec::new();
    for (name, value) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, bytes)) = audio {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; filename=\"{filename}\"; name=\"audio\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let res = client
        .post(url)
        .header("content-type", content_type)
        .header("user-agent", "sdrtrunk")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

async fn calls(app: &TestApp) -> i64 {
    app.count("calls").await
}

async fn trunk_recorder_and_sdrtrunk_uploads_are_imported(b: Backend) {
    let app = TestApp::new(b).await;
    let ((key, _, _), cookie) = keyed_in(&app, "ops@example.com").await;
    let server = app.spawn().await;
    let url = server.url("/api/call-upload");
    let wav = audio::wav(2.0);

    let (status, body) = trunk_recorder(&url, &key, &wav, "101", "1700000000");
    assert_eq!(
        (status, body.as_str()),
        (200, "Call imported successfully.\n")
    );
    // Sent again (a retry after a lost answer): one call.
    let (status, body) = trunk_recorder(&url, &key, &wav, "101", "1700000000");
    assert_eq!(
        (status, body.as_str()),
        (200, "Call imported successfully.\n")
    );
    assert_eq!(calls(&app).await, 1);
    assert_eq!(app.count("tracks").await, 1);
    let (title, sys, tg, label, freq, started, source): (String, i64, i64, String, i64, i64, String) =
        sqlx::query_as(
            "SELECT t.title, c.system_id, c.talkgroup_id, c.talkgroup_label, c.frequency, c.started_at, c.sources \
             FROM calls c JOIN tracks t ON t.id = c.track_id",
        )
        .fetch_one(app.state.db.pool())
        .await
        .expect("call");
    assert_eq!(title, "FD Dispatch · metro");
    assert_eq!((sys, tg, label.as_str()), (1, 101, "FD Dispatch"));
    assert_eq!((freq, started), (851_000_000, 1_700_000_000_000));
    assert!(source.contains("1234"), "{source}");
    // The call's facts, in the API and on the track page.
    let id: i64 = sqlx::query_scalar("SELECT track_id FROM calls")
        .fetch_one(app.state.db.pool())
        .await
        .expect("id");
    let t = app
        .send(crate::helpers::with_cookie(
            crate::helpers::get(&format!("/api/v1/tracks/{id}")),
            &cookie,
        ))
        .await
        .json();
    assert_eq!(t["call"]["talkgroup_id"], 101);
    assert_eq!(t["call"]["system_label"], "metro");
    let page = app
        .send(crate::helpers::with_cookie(
            crate::helpers::get(&format!("/tracks/{id}")),
            &cookie,
        ))
        .await;
    for shown in [
        "metro (1)",
        "FD Dispatch (101)",
        "851.0000 MHz",
        "2023-11-14 22:13:20 UTC",
    ] {
        assert!(page.text.contains(shown), "{shown} on the page");
    }
    // The same audio at another time is another call.
    let (status, _) = trunk_recorder(&url, &key, &wav, "101", "1700000060");
    assert_eq!(status, 200);
    assert_eq!(calls(&app).await, 2);

    // sdrtrunk: its probe first, then a call (MP3, a name without a type).
    let client = reqwest::Client::new();
    let (ct, body) = sdrtrunk_body(&[("key", &key), ("system", "1"), ("test", "1")], None);
    let (status, text) = post_raw(&client, &url, &ct, body).await;
    assert!(
        text.to_lowercase()
            .starts_with("incomplete call data: no talkgroup"),
        "sdrtrunk's connection test: {status} {text:?}"
    );
    assert_eq!(status, 417);
    let mp3 = std::fs::read(audio::mp3(2.0)).expect("mp3");
    let (ct, body) = sdrtrunk_body(
        &[
            ("key", &key),
            ("system", "1"),
            ("dateTime", "1700000100"),
            ("talkgroup", "202"),
            ("source", "5"),
            ("frequency", "852000000"),
            ("talkgroupLabel", "EMS"),
            ("talkgroupGroup", "EMS"),
            ("systemLabel", "metro"),
            ("patches", "[]"),
        ],
        Some(("20231114_221500.000", &mp3)),
    );
    let (status, text) = post_raw(&client, &url, &ct, body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "Call imported successfully.\n")
    );
    let name: String = sqlx::query_scalar(
        "SELECT a.original_filename FROM calls c JOIN track_versions v ON v.track_id = c.track_id \
         JOIN assets a ON a.id = v.asset_id WHERE c.talkgroup_id = 202",
    )
    .fetch_one(app.state.db.pool())
    .await
    .expect("name");
    assert_eq!(name, "20231114_221500.000.mp3", "named from its content");

    // trunk-recorder's own route: its call JSON in `meta`.
    let meta = serde_json::json!({
        "freq": 853000000, "start_time": 1700000200, "stop_time": 1700000203,
        "talkgroup": 303, "talkgroup_tag": "Police", "talkgroup_description": "City police",
        "talkgroup_group": "Law", "talkgroup_group_tag": "Law Dispatch", "audio_type": "digital",
        "short_name": "metro", "patched_talkgroups": [], "freqList": [], "srcList": [{"src": 77, "pos": 0.0}]
    });
    let form = reqwest::multipart::Form::new()
        .text("key", key.clone())
        .text("system", "1")
        .part(
            "audio",
            reqwest::multipart::Part::bytes(std::fs::read(&wav).expect("wav")).file_name("x.wav"),
        )
        .part(
            "meta",
            reqwest::multipart::Part::text(meta.to_string()).file_name("x.json"),
        );
    let res = client
        .post(server.url("/api/trunk-recorder-call-upload"))
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    let (label, source, started): (String, i64, i64) = sqlx::query_as(
        "SELECT talkgroup_label, source, started_at FROM calls WHERE talkgroup_id = 303",
    )
    .fetch_one(app.state.db.pool())
    .await
    .expect("meta call");
    assert_eq!(
        (label.as_str(), source, started),
        ("Police", 77, 1_700_000_200_000)
    );
    server.stop().await;
}

async fn incomplete_and_unauthorized_calls_are_answered_as_rdio_scanner_does(b: Backend) {
    let app = TestApp::new(b).await;
    let (key, key_id, user) = keyed(&app, "ops@example.com").await;
    let server = app.spawn().await;
    let url = server.url("/api/call-upload");
    let client = reqwest::Client::new();
    let wav = std::fs::read(audio::wav(1.0)).expect("wav");
    let full: Vec<(&str, String)> = vec![
        ("key", key.clone()),
        ("system", "1".into()),
        ("talkgroup", "101".into()),
        ("dateTime", "2023-11-14T22:13:20Z".into()),
    ];
    let send = |fields: Vec<(&str, String)>, audio: bool| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ct, body) = sdrtrunk_body(&pairs, audio.then_some(("call.wav", wav.as_slice())));
        let client = client.clone();
        let url = url.clone();
        async move { post_raw(&client, &url, &ct, body).await }
    };
    let without = |name: &str| -> Vec<(&str, String)> {
        full.iter().filter(|(k, _)| *k != name).cloned().collect()
    };
    for (fields, audio, why) in [
        (full.clone(), false, "no audio"),
        (without("dateTime"), true, "no timestamp"),
        (without("system"), true, "no system"),
        (without("talkgroup"), true, "no talkgroup"),
        // Several missing: the last check to fail is the one named.
        (vec![("key", key.clone())], false, "no talkgroup"),
    ] {
        let (status, text) = send(fields, audio).await;
        assert_eq!(status, 417, "{why}: {text:?}");
        assert_eq!(text, format!("Incomplete call data: {why}\n\n"));
    }
    let (status, text) = send(
        full.iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "key" {
                        "wrong".into()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect(),
        true,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (401, "Invalid API key for system 1 talkgroup 101.\n")
    );
    // Methods and bodies rdio-scanner refuses.
    let res = client.get(&url).send().await.expect("get");
    assert_eq!(res.status(), 405);
    assert_eq!(res.text().await.expect("t"), "Unsupported method\n");
    let res = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("json");
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.expect("t"), "Not a multipart content\n");
    let res = client.post(&url).body("x").send().await.expect("bare");
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.expect("t"), "Invalid content-type\n");
    // Every part is capped.
    let long = "x".repeat(70 * 1024);
    let mut fields = full.clone();
    fields.push(("talkgroupLabel", long));
    let (status, _) = send(fields, true).await;
    assert_eq!(status, 413);
    assert_eq!(calls(&app).await, 0);

    // A key limited to talkgroup 101 of system 1.
    let scope = app::calls::CallScope::parse("1:101").expect("scope");
    assert!(
        app::calls::set_scope(&app.state.db, user, key_id, Some(&scope))
            .await
            .expect("scope")
    );
    let (status, _) = send(full.clone(), true).await;
    assert_eq!(status, 200);
    let other_tg: Vec<(&str, String)> = full
        .iter()
        .map(|(k, v)| {
            (
                *k,
                if *k == "talkgroup" {
                    "102".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let (status, text) = send(other_tg, true).await;
    assert_eq!(
        (status, text.as_str()),
        (401, "Invalid API key for system 1 talkgroup 102.\n")
    );
    // Another user's key cannot reach the first user's calls.
    let (bob, _, _) = keyed(&app, "bob@example.com").await;
    let res = client
        .get(server.url("/api/v1/calls"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("calls");
    let page: serde_json::Value = res.json().await.expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
    server.stop().await;
}

async fn calls_are_listed_newest_first_with_filters(b: Backend) {
    let app = TestApp::new(b).await;
    let (key, _, _) = keyed(&app, "ops@example.com").await;
    let server = app.spawn().await;
    let url = server.url("/api/call-upload");
    let wav = audio::wav(1.0);
    for (tg, start) in [
        ("101", "1700000000"),
        ("102", "1700000010"),
        ("101", "1700000020"),
    ] {
        assert_eq!(trunk_recorder(&url, &key, &wav, tg, start).0, 200);
    }
    let client = reqwest::Client::new();
    let list = |q: &str| {
        let req = client
            .get(server.url(&format!("/api/v1/calls{q}")))
            .bearer_auth(&key);
        async move {
            let v: serde_json::Value = req.send().await.expect("list").json().await.expect("json");
            v
        }
    };
    let starts = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["started_at"].as_i64().expect("start") / 1000 - 1_700_000_000)
            .collect()
    };
    assert_eq!(starts(&list("").await), vec![20, 10, 0]);
    assert_eq!(starts(&list("?talkgroup=101").await), vec![20, 0]);
    assert_eq!(starts(&list("?system=2").await), Vec::<i64>::new());
    assert_eq!(
        starts(&list("?from=1700000005000&to=1700000020000").await),
        vec![10]
    );
    assert_eq!(starts(&list("?q=fire%20disp").await).len(), 3);
    // Keyset pages.
    let first = list("?per=2").await;
    assert_eq!(starts(&first), vec![20, 10]);
    let next = first["next"].as_str().expect("cursor");
    assert_eq!(
        starts(&list(&format!("?per=2&cursor={next}")).await),
        vec![0]
    );
    server.stop().await;
}

/// The live calls page's server functions: the owner's calls, filtered,
/// in keyset pages, and one call with what plays it; another user (and a
/// visitor) sees none of them, and a track that is no call is no call.
async fn the_calls_page_sees_only_what_the_viewer_may(b: Backend) {
    use crate::helpers::{form, with_cookie};
    let app = TestApp::new(b).await;
    let ((key, _, _), cookie) = keyed_in(&app, "ops@example.com").await;
    let other = app.register("eve@example.com").await;
    let server = app.spawn().await;
    let url = server.url("/api/call-upload");
    let wav = audio::wav(1.0);
    for (tg, start) in [("101", "1700000000"), ("102", "1700000010")] {
        assert_eq!(trunk_recorder(&url, &key, &wav, tg, start).0, 200);
    }
    server.stop().await;
    let list = |cookie: &str, fields: &[(&str, &str)]| {
        with_cookie(form("/api/calls/list", fields), cookie)
    };
    let page = app.send(list(&cookie, &[])).await;
    assert_eq!(page.status, http::StatusCode::OK, "{}", page.text);
    let items = page.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{}", page.text);
    assert_eq!(items[0]["talkgroup_id"], 102);
    let id = items[0]["track_id"].as_i64().expect("id");
    let filtered = app
        .send(list(&cookie, &[("talkgroup", "101")]))
        .await
        .json();
    assert_eq!(
        filtered["items"].as_array().map(Vec::len),
        Some(1),
        "{filtered}"
    );
    assert_eq!(filtered["items"][0]["talkgroup_id"], 101);
    let bad = app.send(list(&cookie, &[("talkgroup", "x")])).await;
    assert!(bad.status.is_client_error(), "{}", bad.text);
    // Days, UTC, both included: 1700000000 s is 2023-11-14T22:13:20Z.
    let count = |v: serde_json::Value| v["items"].as_array().map(Vec::len);
    let on = app
        .send(list(
            &cookie,
            &[("from", "2023-11-14"), ("to", "2023-11-14")],
        ))
        .await;
    assert_eq!(count(on.json()), Some(2), "{}", on.text);
    let after = app
        .send(list(&cookie, &[("from", "2023-11-15")]))
        .await
        .json();
    assert_eq!(count(after), Some(0));
    let before = app
        .send(list(&cookie, &[("to", "2023-11-13")]))
        .await
        .json();
    assert_eq!(count(before), Some(0));
    let bad = app.send(list(&cookie, &[("from", "2023-02-30")])).await;
    assert_eq!(bad.status, http::StatusCode::BAD_REQUEST, "{}", bad.text);
    let theirs = app.send(list(&other, &[])).await.json();
    assert_eq!(
        theirs["items"].as_array().map(Vec::len),
        Some(0),
        "{theirs}"
    );

    let live = |cookie: &str, id: i64| {
        with_cookie(
            form("/api/calls/live", &[("track_id", &id.to_string())]),
            cookie,
        )
    };
    let c = app.send(live(&cookie, id)).await;
    assert_eq!(c.status, http::StatusCode::OK, "{}", c.text);
    let c = c.json();
    assert_eq!(c["row"]["track_id"], id, "{c}");
    assert_eq!(c["row"]["talkgroup_id"], 102);
    assert!(
        c["src"].as_str().is_some_and(|s| s.starts_with("/media/")),
        "{c}"
    );
    assert_eq!(c["transcript"], "");
    assert!(app.send(live(&other, id)).await.json().is_null());
    assert!(app
        .send(form("/api/calls/live", &[("track_id", &id.to_string())]))
        .await
        .json()
        .is_null());
    // A track that is no call.
    let plain = crate::uploads::api_key(&app, &cookie).await;
    let bytes = std::fs::read(audio::wav(1.5)).expect("wav");
    let up = app
        .send(crate::uploads::post_track(
            &plain,
            &[],
            Some(("song.wav", &bytes)),
        ))
        .await;
    let song = up.json()["id"].as_i64().expect("id");
    assert!(app.send(live(&cookie, song)).await.json().is_null());
}

/// Calls sent with a key that asks for transcripts are transcribed (the
/// owner's default is off); others are not.
async fn a_key_can_ask_for_every_calls_transcript(b: Backend) {
    use crate::fake_stt::{FakeStt, Options};
    use crate::transcripts::app_with;
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| s.api_key = None).await;
    let (key, key_id, user) = keyed(&app, "ops@example.com").await;
    let plain =
        app::auth::service::create_api_key_for_email(&app.state, "ops@example.com", "plain")
            .await
            .expect("key")
            .secret;
    assert!(
        app::calls::set_transcribe(&app.state.db, user, key_id, true)
            .await
            .expect("set")
    );
    let server = app.spawn().await;
    let url = server.url("/api/call-upload");
    let wav = audio::wav(1.0);
    assert_eq!(trunk_recorder(&url, &key, &wav, "101", "1700000000").0, 200);
    assert_eq!(
        trunk_recorder(&url, &plain, &wav, "102", "1700000001").0,
        200
    );
    assert_eq!(app.count("calls").await, 2);
    let transcribe_jobs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'transcribe'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("count");
    assert_eq!(transcribe_jobs, 1, "only the asking key's call");
    server.stop().await;
}

crate::both_backends!(
    the_calls_page_sees_only_what_the_viewer_may,
    a_key_can_ask_for_every_calls_transcript,
    trunk_recorder_and_sdrtrunk_uploads_are_imported,
    incomplete_and_unauthorized_calls_are_answered_as_rdio_scanner_does,
    calls_are_listed_newest_first_with_filters,
);
