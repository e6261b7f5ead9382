//! Browsing: listings (keyset pages, three orders, search, "my tracks"),
//! cache invalidation and ETags, signed media links with byte ranges,
//! previews, the lazy stems panel and its zip, downloads history, deletes
//! that free storage, and who may do what.

use http::{header, Request, StatusCode};

use crate::audio;
use crate::helpers::{form, get, user_id, with_cookie, Backend, TestApp, TestResponse};
use crate::uploads::{api_key, post_track, process, walk};
use axum::body::Body;

/// A track row without a file (listings only read rows).
async fn insert_track(
    app: &TestApp,
    owner: i64,
    title: &str,
    tags: &str,
    visibility: &str,
    duration_ms: Option<i64>,
    created_at: i64,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO tracks (owner_id, slug, title, tags, visibility, duration_ms, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(owner)
    .bind(format!("t-{owner}-{created_at}-{}", title.len()))
    .bind(title)
    .bind(tags)
    .bind(visibility)
    .bind(duration_ms)
    .bind(created_at)
    .fetch_one(app.state.db.pool())
    .await
    .expect("insert track")
}

/// Every page of a JSON listing, following `next`.
async fn all_pages(app: &TestApp, query: &str, cookie: Option<&str>) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    for _ in 0..20 {
        let mut url = format!("/api/v1/tracks?{query}");
        if let Some(p) = &page {
            url.push_str(&format!("&page={}", urlencoding::encode(p)));
        }
        let req = match cookie {
            Some(c) => with_cookie(get(&url), c),
            None => get(&url),
        };
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::OK, "{url}: {}", res.text);
        let j = res.json();
        let items = j["items"].as_array().expect("items").clone();
        assert!(items.len() <= 50, "pages hold 50");
        out.extend(items);
        match j["next"].as_str() {
            Some(n) => page = Some(n.to_string()),
            None => return out,
        }
    }
    panic!("more than 20 pages");
}

fn titles(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["title"].as_str().expect("title").to_string())
        .collect()
}

async fn listings_paginate_sort_and_search(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let ana_id = user_id(&app, "ana@example.com").await;
    let bob_id = user_id(&app, "bob@example.com").await;
    // 120 public tracks: titles out of creation order, mixed case, even
    // ones tagged rock, odd ones jazz; durations in a third order.
    for i in 0..120i64 {
        let n = (i * 37) % 120;
        let title = if i % 3 == 0 {
            format!("song {n:03}")
        } else {
            format!("Song {n:03}")
        };
        let tags = if i % 2 == 0 { "rock, live" } else { "jazz" };
        let dur = if i % 10 == 9 {
            None
        } else {
            Some((i * 7919) % 300_000)
        };
        insert_track(&app, ana_id, &title, tags, "public", dur, 1_000 + i).await;
    }
    for i in 0..5 {
        insert_track(
            &app,
            bob_id,
            &format!("Secret {i}"),
            "hidden",
            "private",
            Some(1000),
            5_000 + i,
        )
        .await;
    }

    // Newest first, 50 a page, every public track once, nobody's private one.
    let newest = all_pages(&app, "", None).await;
    assert_eq!(newest.len(), 120);
    let created: Vec<i64> = newest
        .iter()
        .map(|t| t["created_at"].as_i64().expect("c"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(!titles(&newest).iter().any(|t| t.starts_with("Secret")));

    // By title (case-insensitive), across pages.
    let by_title = titles(&all_pages(&app, "sort=title", None).await);
    let mut expected = by_title.clone();
    expected.sort_by_key(|t| t.to_lowercase());
    assert_eq!(by_title, expected);
    assert_eq!(by_title.len(), 120);

    // By duration, longest first; tracks still processing last.
    let by_len = all_pages(&app, "sort=duration", None).await;
    let lens: Vec<i64> = by_len
        .iter()
        .map(|t| t["duration_ms"].as_i64().unwrap_or(0))
        .collect();
    assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{lens:?}");
    assert_eq!(by_len.len(), 120);

    // Search: words are prefixes, over title and tags, only what one may see.
    assert_eq!(all_pages(&app, "q=jaz", None).await.len(), 60);
    assert_eq!(all_pages(&app, "q=ROCK%20liv", None).await.len(), 60);
    assert_eq!(
        titles(&all_pages(&app, "q=song%20007", None).await),
        vec!["Song 007"]
    );
    assert_eq!(all_pages(&app, "q=secret", None).await.len(), 0);
    assert_eq!(all_pages(&app, "q=secret", Some(&ana)).await.len(), 0);
    assert_eq!(
        all_pages(&app, "q=secret&mine=1", Some(&bob)).await.len(),
        5
    );
    assert_eq!(all_pages(&app, "mine=1", Some(&ana)).await.len(), 120);
    // Punctuation and quotes are not syntax.
    assert_eq!(
        all_pages(&app, "q=%22song%22%20*%20(", None).await.len(),
        120
    );
    assert_eq!(all_pages(&app, "q=song%20OR%20NEAR", None).await.len(), 0);
    assert_eq!(all_pages(&app, "q=%2A%2A%2A", None).await.len(), 120);

    // The server function answers the same.
    let res = app
        .send(form(
            "/api/tracks/list",
            &[
                ("query[mine]", "false"),
                ("query[q]", "song 00"),
                ("query[sort]", "Title"),
            ],
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let got = titles(res.json()["items"].as_array().expect("items"));
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(got[0].to_lowercase(), "song 000");

    // Clear errors.
    let res = app.send(get("/api/v1/tracks?page=garbage")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    let res = app.send(get("/api/v1/tracks?sort=n1_1&page=t1_zz")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = app.send(get("/api/v1/tracks?mine=1")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app
        .send(form(
            "/api/tracks/list",
            &[
                ("query[mine]", "true"),
                ("query[q]", ""),
                ("query[sort]", "Newest"),
            ],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn edits_show_at_once_and_etags_revalidate(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let ana_id = user_id(&app, "ana@example.com").await;
    let id = insert_track(&app, ana_id, "Before", "", "public", Some(1000), 10).await;

    let first = app.send(get("/api/v1/tracks")).await;
    assert_eq!(
        titles(first.json()["items"].as_array().expect("i")),
        vec!["Before"]
    );
    let etag = first.header("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let again = app
        .send(
            Request::get("/api/v1/tracks")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.bytes.is_empty());
    // Clients that take gzip get the page compressed once, with its own tag.
    let gz = app
        .send(
            Request::get("/api/v1/tracks")
                .header(header::ACCEPT_ENCODING, "br;q=0, gzip")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert_eq!(
        gz.header("etag"),
        format!("{}-gz\"", etag.trim_end_matches('"'))
    );
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz.bytes[..]),
        &mut unzipped,
    )
    .expect("gzip");
    assert_eq!(unzipped, first.bytes, "the same JSON");
    let refused = app
        .send(
            Request::get("/api/v1/tracks")
                .header(header::ACCEPT_ENCODING, "gzip;q=0")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(refused.header("etag"), etag);
    assert_ne!(refused.header("content-encoding"), "gzip");
    // The page was read once; its repeats were answered from its encoding.
    let lists = app.state.caches.lists.stats();
    assert!(lists.misses >= 1, "{lists:?}");
    let json = app.state.caches.list_json.stats();
    assert!(json.hits >= 3, "{json:?}");

    let res = app
        .send(with_cookie(
            form(
                "/api/tracks/update",
                &[
                    ("id", &id.to_string()),
                    ("title", "After"),
                    ("tags", "a, b ,,c"),
                    ("visibility", "Public"),
                ],
            ),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    // The list shows the new title at once (its cached page was dropped).
    let after = app
        .send(
            Request::get("/api/v1/tracks")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
    let items = after.json()["items"].as_array().expect("i").clone();
    assert_eq!(titles(&items), vec!["After"]);
    assert_eq!(items[0]["tags"], "a, b, c");
    assert_ne!(after.header("etag"), etag);
    // So does the track, and a search for the new title.
    let t = app.send(get(&format!("/api/v1/tracks/{id}"))).await.json();
    assert_eq!(t["title"], "After");
    assert_eq!(all_pages(&app, "q=after", None).await.len(), 1);
    assert_eq!(all_pages(&app, "q=before", None).await.len(), 0);

    // Private: gone from the public list and from everyone else at once.
    let res = app
        .send(with_cookie(
            form(
                "/api/tracks/update",
                &[
                    ("id", &id.to_string()),
                    ("title", "After"),
                    ("tags", ""),
                    ("visibility", "Private"),
                ],
            ),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(all_pages(&app, "", None).await.len(), 0);
    assert_eq!(
        app.send(get(&format!("/api/v1/tracks/{id}"))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(all_pages(&app, "mine=1", Some(&ana)).await.len(), 1);

    // Bad edits are refused with a reason.
    for (title, why) in [("   ", "empty"), (&"x".repeat(201) as &str, "200")] {
        let res = app
            .send(with_cookie(
                form(
                    "/api/tracks/update",
                    &[
                        ("id", &id.to_string()),
                        ("title", title),
                        ("tags", ""),
                        ("visibility", "Public"),
                    ],
                ),
                &ana,
            ))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.text.contains(why), "{}", res.text);
    }
}

fn path_and_query(url: &str) -> (&str, &str) {
    url.split_once('?').expect("signed url has a query")
}

fn ranged(url: &str, range: &str) -> Request<Body> {
    Request::get(url)
        .header(header::RANGE, range)
        .body(Body::empty())
        .expect("r")
}

async fn streams_ranges_previews_and_signed_links(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let wav = std::fs::read(audio::wav(2.0)).expect("wav");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Demo"), ("visibility", "public")],
            Some(("demo.wav", &wav)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");
    process(&app).await;

    // A WAV plays from its MP3 preview, made in the background.
    let t = app.send(get(&format!("/api/v1/tracks/{id}"))).await.json();
    assert_eq!(t["status"], "ready", "{t}");
    assert_eq!(t["versions"][0]["asset"]["preview_ready"], true, "{t}");
    assert_eq!(t["playback"]["preview"], true);
    assert_eq!(t["playback"]["mime"], "audio/mpeg");
    let preview = app
        .send(get(t["playback"]["src"].as_str().expect("src")))
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.header("content-type"), "audio/mpeg");
    assert!(
        preview.bytes.len() > 10_000,
        "{} bytes",
        preview.bytes.len()
    );
    assert!(
        preview.bytes[0] == 0xFF && preview.bytes[1] & 0xE0 == 0xE0,
        "an MPEG frame first"
    );
    let r = app
        .send(ranged(
            t["playback"]["src"].as_str().expect("src"),
            "bytes=1000-1999",
        ))
        .await;
    assert_eq!(
        r.status,
        StatusCode::PARTIAL_CONTENT,
        "previews seek with ranges"
    );
    assert_eq!(r.bytes, preview.bytes[1000..2000]);

    // The original, as a download for ana.
    let t = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json();
    let url = t["versions"][0]["download_url"]
        .as_str()
        .expect("download url")
        .to_string();
    assert!(url.contains("&u="), "{url}");
    let full = app.send(get(&url)).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.bytes, wav);
    assert_eq!(full.header("content-type"), "audio/wav");
    assert_eq!(full.header("x-content-type-options"), "nosniff");
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert!(
        full.header("content-disposition")
            .starts_with("attachment; filename=\"demo-"),
        "{}",
        full.header("content-disposition")
    );
    assert!(full.header("content-disposition").ends_with(".wav\""));
    assert!(!full.header("last-modified").is_empty());
    let etag = full.header("etag").to_string();
    assert!(etag.len() > 10);
    assert!(
        full.header("content-encoding").is_empty(),
        "audio is never recompressed"
    );
    let len = wav.len();

    // Ranges.
    let r = app.send(ranged(&url, "bytes=0-99")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), format!("bytes 0-99/{len}"));
    assert_eq!(r.bytes, wav[..100]);
    let r = app.send(ranged(&url, "bytes=-10")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes, wav[len - 10..]);
    let r = app.send(ranged(&url, "bytes=100-")).await;
    assert_eq!(r.bytes, wav[100..]);
    assert_eq!(r.header("content-length"), (len - 100).to_string());
    for bad in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 10),
        "bytes=0-10,5-20".to_string(),
        "bytes=0-1,10-11".to_string(),
        "bytes=abc".to_string(),
        "bytes=5-1".to_string(),
    ] {
        let r = app.send(ranged(&url, &bad)).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(r.header("content-range"), format!("bytes */{len}"), "{bad}");
    }
    // Conditional requests.
    let r = app
        .send(
            Request::get(&url)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes.is_empty());
    let r = app
        .send(
            Request::get(&url)
                .header(header::RANGE, "bytes=0-9")
                .header(header::IF_RANGE, "\"other\"")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a stale If-Range gets the whole file"
    );
    let r = app
        .send(
            Request::get(&url)
                .header(header::RANGE, "bytes=0-9")
                .header(header::IF_RANGE, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let r = app
        .send(Request::head(&url).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), len.to_string());
    assert!(r.bytes.is_empty());

    // Tampering: another file, mode, expiry, user or signature; no signature.
    let (path, query) = path_and_query(&url);
    let asset = t["versions"][0]["asset"]["id"].as_i64().expect("asset");
    let exp: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("exp="))
        .expect("exp")
        .parse()
        .expect("n");
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .expect("sig");
    let flipped: String = sig.chars().rev().collect();
    for forged in [
        url.replace(
            &format!("/media/{asset}/"),
            &format!("/media/{}/", asset + 1),
        ),
        url.replace("/download/", "/stream/"),
        url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)),
        url.replace("&u=", "&u=9"),
        url.replace(sig, &flipped),
        path.to_string(),
        format!("{path}?exp={exp}"),
    ] {
        let r = app.send(get(&forged)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{forged}: {}", r.text);
    }
    // Expired: correctly signed, but its time is over.
    let old = app
        .state
        .secrets
        .sign_until(path, app::db::now_ms() / 1000 - 5, None);
    let r = app.send(get(&old)).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text.contains("expired"), "{}", r.text);

    // Whole downloads are in the history, ranges and revalidations are not;
    // the address is stored only as a salted hash.
    let rows: Vec<(Option<i64>, String, String)> =
        sqlx::query_as("SELECT user_id, kind, ip_hash FROM downloads ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .expect("downloads");
    let ana_id = user_id(&app, "ana@example.com").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (user, kind, ip) in &rows {
        assert_eq!(*user, Some(ana_id));
        assert_eq!(kind, "download");
        assert_eq!(ip.len(), 32);
        assert!(!ip.contains("127.0.0.1"));
    }
    let res = app
        .send(with_cookie(form("/api/downloads/list", &[]), &ana))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let h = res.json();
    assert_eq!(h["items"].as_array().expect("items").len(), 2);
    assert_eq!(h["items"][0]["track_title"], "Demo");
    assert_eq!(h["items"][0]["label"], "demo.wav");

    // The waveform overview for the page.
    let res = app
        .send(form("/api/tracks/peaks", &[("id", &id.to_string())]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let peaks = res.json();
    let n = peaks.as_array().expect("peaks").len();
    assert!((100..=2002).contains(&n), "{n} values");
}

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

async fn deleting_a_track_frees_its_storage(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let key = api_key(&app, &ana).await;
    let one = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let two = std::fs::read(audio::flac(1.0)).expect("flac");
    let mut ids = Vec::new();
    for (name, bytes) in [("one.mp3", &one), ("two.flac", &two), ("copy.mp3", &one)] {
        let res = app
            .send(post_track(
                &key,
                &[("visibility", "public")],
                Some((name, bytes)),
            ))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        ids.push(res.json()["id"].as_i64().expect("id"));
    }
    process(&app).await;
    let used = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT storage_used_bytes FROM users WHERE email = 'ana@example.com'",
        )
        .fetch_one(app.state.db.pool())
        .await
        .expect("used")
    };
    assert_eq!(used().await, (one.len() + two.len()) as i64);
    let objects = app.state.settings.data_dir.join("objects");
    assert_eq!(walk(&objects), 2);
    let id = |i: usize| ids[i].to_string();

    // Others cannot delete (public: 403), the owner can.
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(1))]),
            &bob,
        ))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app
        .send(form("/api/tracks/delete", &[("id", &id(1))]))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(1))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(used().await, one.len() as i64, "the usage drops at once");
    assert_eq!(
        app.send(get(&format!("/api/v1/tracks/{}", id(1))))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(all_pages(&app, "", None).await.len(), 2);
    process(&app).await;
    assert_eq!(walk(&objects), 1, "the purge job removed the file");

    // A file another track still uses stays.
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(0))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    process(&app).await;
    assert_eq!(used().await, one.len() as i64);
    assert_eq!(walk(&objects), 1);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(2))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    process(&app).await;
    assert_eq!(used().await, 0);
    assert_eq!(walk(&objects), 0);
    assert_eq!(walk(&app.state.settings.data_dir.join("derived")), 0);
    assert_eq!(app.count("assets").await, 0);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(2))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// Every track route and server function, as anonymous, owner, another
/// user and an admin, on a private track (hidden = 404) and a public one
/// (visible but not theirs to change = 403).
async fn authorization_matrix(b: Backend) {
    let app = TestApp::new(b).await;
    let owner = app.register("ana@example.com").await;
    let other = app.register("bob@example.com").await;
    let admin = app.admin("root@example.com").await;
    let key = api_key(&app, &owner).await;
    let mp3 = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Private")],
            Some(("p.mp3", &mp3)),
        ))
        .await;
    let j = res.json();
    let (id, version) = (
        j["id"].as_i64().expect("id").to_string(),
        j["version_id"].as_i64().expect("v").to_string(),
    );
    let res = app
        .send(post_track(
            &key,
            &[("title", "Public"), ("visibility", "public")],
            Some(("q.mp3", &mp3)),
        ))
        .await;
    let public = res.json()["id"].as_i64().expect("id").to_string();
    let public_version = res.json()["version_id"].as_i64().expect("v").to_string();
    process(&app).await;

    type Call = Box<dyn Fn() -> Request<Body>>;
    let f = |path: &'static str, fields: Vec<(&'static str, String)>| -> Call {
        Box::new(move || {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form(path, &pairs)
        })
    };
    let g = |path: String| -> Call { Box::new(move || get(&path)) };
    let edit = |t: &str| {
        vec![
            ("id", t.to_string()),
            ("title", "T".to_string()),
            ("tags", String::new()),
            ("visibility", "Private".to_string()),
        ]
    };
    let edit_public = |t: &str| {
        vec![
            ("id", t.to_string()),
            ("title", "Public".to_string()),
            ("tags", String::new()),
            ("visibility", "Public".to_string()),
        ]
    };
    use StatusCode as S;
    let (ok, nf, un, fb) = (S::OK, S::NOT_FOUND, S::UNAUTHORIZED, S::FORBIDDEN);
    // (what, call, [anonymous, owner, other, admin])
    let cases: Vec<(&str, Call, [S; 4])> = vec![
        (
            "get private",
            f("/api/tracks/get", vec![("id", id.clone())]),
            [nf, ok, nf, ok],
        ),
        (
            "peaks private",
            f("/api/tracks/peaks", vec![("id", id.clone())]),
            [nf, ok, nf, ok],
        ),
        (
            "stems private",
            f("/api/tracks/stems", vec![("version_id", version.clone())]),
            [nf, ok, nf, ok],
        ),
        (
            "update private",
            f("/api/tracks/update", edit(&id)),
            [un, ok, nf, ok],
        ),
        (
            "primary private",
            f(
                "/api/tracks/primary",
                vec![("id", id.clone()), ("version_id", version.clone())],
            ),
            [un, ok, nf, ok],
        ),
        (
            "delete missing",
            f("/api/tracks/delete", vec![("id", "999999".into())]),
            [un, nf, nf, nf],
        ),
        (
            "get public",
            f("/api/tracks/get", vec![("id", public.clone())]),
            [ok, ok, ok, ok],
        ),
        (
            "stems public",
            f(
                "/api/tracks/stems",
                vec![("version_id", public_version.clone())],
            ),
            [ok, ok, ok, ok],
        ),
        (
            "update public",
            f("/api/tracks/update", edit_public(&public)),
            [un, ok, fb, ok],
        ),
        (
            "primary public",
            f(
                "/api/tracks/primary",
                vec![
                    ("id", public.clone()),
                    ("version_id", public_version.clone()),
                ],
            ),
            [un, ok, fb, ok],
        ),
        (
            "downloads",
            f("/api/downloads/list", vec![]),
            [un, ok, ok, ok],
        ),
        (
            "my tracks",
            f(
                "/api/tracks/list",
                vec![
                    ("query[mine]", "true".into()),
                    ("query[q]", String::new()),
                    ("query[sort]", "Newest".into()),
                ],
            ),
            [un, ok, ok, ok],
        ),
        (
            "public tracks",
            f(
                "/api/tracks/list",
                vec![
                    ("query[mine]", "false".into()),
                    ("query[q]", String::new()),
                    ("query[sort]", "Newest".into()),
                ],
            ),
            [ok, ok, ok, ok],
        ),
        (
            "GET track private",
            g(format!("/api/v1/tracks/{id}")),
            [nf, ok, nf, ok],
        ),
        (
            "GET peaks private",
            g(format!("/api/v1/tracks/{id}/peaks")),
            [nf, ok, nf, ok],
        ),
        (
            "GET events private",
            g(format!("/api/v1/tracks/{id}/events")),
            [nf, ok, nf, ok],
        ),
        (
            "GET track public",
            g(format!("/api/v1/tracks/{public}")),
            [ok, ok, ok, ok],
        ),
        (
            "GET peaks public",
            g(format!("/api/v1/tracks/{public}/peaks")),
            [ok, ok, ok, ok],
        ),
        (
            "GET mine",
            g("/api/v1/tracks?mine=1".into()),
            [un, ok, ok, ok],
        ),
        ("GET list", g("/api/v1/tracks".into()), [ok, ok, ok, ok]),
        (
            "unsigned media",
            g("/media/1/stream/x.mp3".into()),
            [fb, fb, fb, fb],
        ),
        (
            "unsigned stems",
            g(format!("/media/stems/{version}/x.zip")),
            [fb, fb, fb, fb],
        ),
        (
            "track page private",
            g(format!("/tracks/{id}")),
            [nf, ok, nf, ok],
        ),
        (
            "track page public",
            g(format!("/tracks/{public}")),
            [ok, ok, ok, ok],
        ),
        ("downloads page", g("/downloads".into()), [un, ok, ok, ok]),
        ("my tracks page", g("/mine".into()), [un, ok, ok, ok]),
    ];
    let who = [None, Some(&owner), Some(&other), Some(&admin)];
    let names = ["anonymous", "owner", "other", "admin"];
    for (what, call, expected) in &cases {
        for (i, cookie) in who.iter().enumerate() {
            let req = match cookie {
                Some(c) => with_cookie(call(), c),
                None => call(),
            };
            let res: TestResponse = app.send(req).await;
            assert_eq!(
                res.status,
                expected[i],
                "{what} as {}: {}",
                names[i],
                &res.text[..res.text.len().min(300)]
            );
        }
    }
    // Finally the admin deletes someone else's private track.
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id)]),
            &other,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id)]),
            &admin,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

/// A link signed while a track was public stops working for others the
/// moment it goes private; its owner's links keep working.
async fn links_stop_when_a_track_goes_private(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let mp3 = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Soon private"), ("visibility", "public")],
            Some(("s.mp3", &mp3)),
        ))
        .await;
    let id = res.json()["id"].as_i64().expect("id");
    process(&app).await;
    let visitor_src = app.send(get(&format!("/api/v1/tracks/{id}"))).await.json()["playback"]
        ["src"]
        .as_str()
        .expect("src")
        .to_string();
    let owner_src = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json()["playback"]["src"]
        .as_str()
        .expect("src")
        .to_string();
    assert_eq!(app.send(get(&visitor_src)).await.status, StatusCode::OK);
    let res = app
        .send(with_cookie(
            form(
                "/api/tracks/update",
                &[
                    ("id", &id.to_string()),
                    ("title", "Soon private"),
                    ("tags", ""),
                    ("visibility", "Private"),
                ],
            ),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(
        app.send(get(&visitor_src)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.send(get(&owner_src)).await.status, StatusCode::OK);
}

crate::both_backends!(
    links_stop_when_a_track_goes_private,
    listings_paginate_sort_and_search,
    edits_show_at_once_and_etags_revalidate,
    streams_ranges_previews_and_signed_links,
    stems_load_on_demand_and_zip_as_they_stream,
    deleting_a_track_frees_its_storage,
    authorization_matrix,
);

/// Two wavekeep processes on one PostgreSQL database: a change made through
/// one drops the other's cached pages (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_share_invalidations() {
    if !crate::helpers::pg_enabled() {
        eprintln!("postgres variant not run: WAVEKEEP_TEST_PG_URL is not set");
        return;
    }
    crate::helpers::bounded(async {
        let app = TestApp::new(Backend::Postgres).await;
        let ana = app.register("ana@example.com").await;
        let ana_id = user_id(&app, "ana@example.com").await;
        let id = insert_track(&app, ana_id, "Old", "", "public", Some(1), 1).await;
        let other = server::build_state(
            app.state.settings.as_ref().clone(),
            &app.database_url,
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("second process");
        let listen = tokio::spawn(server::worker::listen_for_enqueues(
            other.db.clone(),
            other.queue.wake(),
            other.caches.clone(),
        ));
        let list = || async {
            app::tracks::api::list_cached(&other, None, Default::default())
                .await
                .expect("list")
                .items[0]
                .title
                .clone()
        };
        assert_eq!(list().await, "Old");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let res = app
            .send(with_cookie(
                form(
                    "/api/tracks/update",
                    &[
                        ("id", &id.to_string()),
                        ("title", "New"),
                        ("tags", ""),
                        ("visibility", "Public"),
                    ],
                ),
                &ana,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let mut seen = String::new();
        for _ in 0..50 {
            seen = list().await;
            if seen == "New" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(seen, "New", "the other process dropped its cached page");
        listen.abort();
        other.db.close().await;
    })
    .await;
}

/// No listing, search or page of one reads the whole tracks table or sorts
/// it: every order walks its index (SQLite's query plan says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_listings_walk_indexes() {
    crate::helpers::bounded(async {
        let app = TestApp::new(Backend::Sqlite).await;
        app.register("ana@example.com").await;
        let ana = user_id(&app, "ana@example.com").await;
        for i in 0..300 {
            insert_track(&app, ana, &format!("t{i}"), "x", "public", Some(i), i).await;
        }
        sqlx::query("ANALYZE")
            .execute(app.state.db.pool())
            .await
            .expect("analyze");
        for sort in app::tracks::Sort::ALL {
            for owner in [None, Some(ana)] {
                for q in ["", "t1"] {
                    let mut query = app::tracks::ListQuery {
                        mine: owner.is_some(),
                        q: q.into(),
                        sort,
                        ..Default::default()
                    };
                    let first = app::tracks::db::list(&app.state.db, owner, &query)
                        .await
                        .expect("list");
                    for cursor in [None, first.next.clone()] {
                        query.cursor = cursor.clone();
                        let plan = app::tracks::db::explain_list(&app.state.db, owner, &query)
                            .await
                            .expect("plan")
                            .join(" | ");
                        let what = format!(
                            "{sort:?} owner={owner:?} q={q:?} cursor={}",
                            cursor.is_some()
                        );
                        assert!(
                            !plan.contains("SCAN t ") && !plan.ends_with("SCAN t"),
                            "{what}: a table scan: {plan}"
                        );
                        if q.is_empty() {
                            assert!(!plan.contains("TEMP B-TREE"), "{what}: a sort: {plan}");
                            assert!(
                                plan.contains("USING INDEX tracks_")
                                    || plan.contains("USING COVERING INDEX tracks_"),
                                "{what}: {plan}"
                            );
                        } else {
                            assert!(
                                plan.contains("tracks_fts VIRTUAL TABLE INDEX"),
                                "{what}: {plan}"
                            );
                        }
                    }
                }
            }
        }
    })
    .await;
}
