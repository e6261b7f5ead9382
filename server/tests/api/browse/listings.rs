//! Listings: keyset pages in three orders, search, "my tracks", edits
//! that show at once (caches, ETags), across processes on PostgreSQL, and
//! SQLite query plans that walk indexes.

use axum::body::Body;
use http::{header, Request, StatusCode};

use super::*;
use crate::helpers::{form, get, user_id, with_cookie, Backend, TestApp};

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
        let res = retitle(&app, &ana, id, title).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.text.contains(why), "{}", res.text);
    }
}

/// The owner's edit of a public track's title (the form the track page sends).
async fn retitle(
    app: &TestApp,
    cookie: &str,
    id: i64,
    title: &str,
) -> crate::helpers::TestResponse {
    app.send(with_cookie(
        form(
            "/api/tracks/update",
            &[
                ("id", &id.to_string()),
                ("title", title),
                ("tags", ""),
                ("visibility", "Public"),
            ],
        ),
        cookie,
    ))
    .await
}

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
        let listen = tokio::spawn(server::worker::listen_for_enqueues(other.app.clone()));
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
        let res = retitle(&app, &ana, id, "New").await;
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

/// A process whose LISTEN connection is cut (a proxy the test cuts; its
/// pool still reaches the database) never serves a page another process
/// changed meanwhile: its caches keep nothing until it listens again, and
/// once the connection is back it caches again and hears changes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_listen_connection_is_never_stale() {
    if !crate::helpers::pg_enabled() {
        eprintln!("postgres variant not run: WAVEKEEP_TEST_PG_URL is not set");
        return;
    }
    crate::helpers::bounded(async {
        use std::time::Duration;
        let app = TestApp::new(Backend::Postgres).await;
        let ana = app.register("ana@example.com").await;
        let ana_id = user_id(&app, "ana@example.com").await;
        let id = insert_track(&app, ana_id, "v0", "", "public", Some(1), 1).await;
        let other = app.second_state().await;
        let mut url = reqwest::Url::parse(&app.database_url).expect("url");
        let target: std::net::SocketAddr = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432)
        )
        .parse()
        .expect("target");
        let mut proxy = crate::faults::breaker::Proxy::start(target).await;
        url.set_port(Some(proxy.port)).expect("port");
        let listen = tokio::spawn(server::worker::listen_via(
            url.as_str().to_string().into(),
            other.app.clone(),
        ));
        let title = || async {
            app::tracks::api::list_cached(&other, None, Default::default())
                .await
                .expect("list")
                .items[0]
                .title
                .clone()
        };
        let rename = |to: &'static str| {
            let (ana, app) = (ana.clone(), &app);
            async move {
                let res = retitle(app, &ana, id, to).await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            }
        };
        // Whether the other process's page shows `to` within `within`.
        let shows = |to: &'static str, within: Duration| async move {
            let seen = async {
                while title().await != to {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::time::timeout(within, seen).await
        };
        // Listening: the page is cached, and a change elsewhere drops it
        // within a second.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(title().await, "v0");
        rename("v1").await;
        shows("v1", Duration::from_secs(1))
            .await
            .expect("the change was heard within 1 s");

        // Cut, and a change right after it: within 2 s the loss is noticed
        // and the change is served; from then on nothing is served stale.
        proxy.cut();
        rename("v2").await;
        shows("v2", Duration::from_secs(2))
            .await
            .expect("not stale 2 s after the LISTEN connection was cut");
        assert!(other.caches.is_deaf());
        for to in ["v3", "v4"] {
            rename(to).await;
            assert_eq!(title().await, to, "never stale while not listening");
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let hits = other.caches.lists.stats().hits;
        assert_eq!(title().await, "v4");
        assert_eq!(
            other.caches.lists.stats().hits,
            hits,
            "nothing is cached while deaf"
        );

        // Back: listening again, caching again, hearing again.
        proxy.restore().await;
        let back = async {
            while other.caches.is_deaf() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), back)
            .await
            .expect("listening again within 5 s of the connection's return");
        assert_eq!(title().await, "v4");
        assert_eq!(title().await, "v4");
        assert!(other.caches.lists.stats().hits > hits, "cached again");
        rename("v5").await;
        shows("v5", Duration::from_secs(1))
            .await
            .expect("changes are heard again");
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

crate::both_backends!(
    listings_paginate_sort_and_search,
    edits_show_at_once_and_etags_revalidate,
);
