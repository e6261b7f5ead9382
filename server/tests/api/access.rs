//! Who may call what: anonymous → 401, signed in but not allowed → 403,
//! someone else's private object → 404 (the authorization matrix over
//! pages, server functions, API routes and media links).

use http::StatusCode;

use axum::body::Body;
use http::Request;

use crate::audio;
use crate::helpers::{form, get, with_cookie, Backend, TestApp, TestResponse};
use crate::uploads::{api_key, post_track, process};

async fn admin_functions_answer_401_403_200(b: Backend) {
    let app = TestApp::new(b).await;
    let user = app.register("user@example.com").await;
    let admin = app.admin("root@example.com").await;

    let anon = app.send(form("/api/admin/users", &[])).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    let as_user = app
        .send(with_cookie(form("/api/admin/users", &[]), &user))
        .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
    let as_admin = app
        .send(with_cookie(form("/api/admin/users", &[]), &admin))
        .await;
    assert_eq!(as_admin.status, StatusCode::OK, "{}", as_admin.text);
    assert_eq!(as_admin.json().as_array().map(Vec::len), Some(2));

    // A user cannot promote themselves; an admin can promote them.
    let user_id =
        sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE email = 'user@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("id")
            .to_string();
    let promote = [("user_id", user_id.as_str()), ("role", "Admin")];
    let res = app
        .send(with_cookie(form("/api/admin/set_role", &promote), &user))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app
        .send(with_cookie(form("/api/admin/set_role", &promote), &admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    // The new role applies to the existing session at once.
    let res = app
        .send(with_cookie(form("/api/admin/users", &[]), &user))
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn account_functions_need_a_session(b: Backend) {
    let app = TestApp::new(b).await;
    for path in [
        "/api/api_keys/list",
        "/api/api_keys/create",
        "/api/api_keys/revoke",
    ] {
        let res = app.send(form(path, &[("name", "x"), ("id", "1")])).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{path}: {}", res.text);
    }
    let res = app.send(get("/api/v1/me")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app.send(get("/api/v1/api-keys")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("api_keys").await, 0);
}

async fn mutations_refuse_get(b: Backend) {
    let app = TestApp::new(b).await;
    for path in [
        "/api/login?email=a%40b.co&password=x",
        "/api/logout",
        "/api/register",
    ] {
        let res = app.send(get(path)).await;
        assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
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
        (
            "transcript panel private",
            f("/api/transcripts/get", vec![("track_id", id.clone())]),
            [nf, ok, nf, ok],
        ),
        (
            "transcript panel public",
            f("/api/transcripts/get", vec![("track_id", public.clone())]),
            [ok, ok, ok, ok],
        ),
        (
            // No provider here: the owner and admins hear so (409).
            "transcribe private",
            f(
                "/api/transcripts/request",
                vec![("track_id", id.clone()), ("replace_edits", "false".into())],
            ),
            [un, S::CONFLICT, nf, S::CONFLICT],
        ),
        (
            "transcribe public",
            f(
                "/api/transcripts/request",
                vec![
                    ("track_id", public.clone()),
                    ("replace_edits", "false".into()),
                ],
            ),
            [un, S::CONFLICT, fb, S::CONFLICT],
        ),
        (
            "POST transcribe private",
            Box::new({
                let id = id.clone();
                move || {
                    Request::post(format!("/api/v1/tracks/{id}/transcribe"))
                        .body(Body::empty())
                        .expect("r")
                }
            }),
            [un, S::CONFLICT, nf, S::CONFLICT],
        ),
        (
            // Nothing to correct yet: 404 for whoever may correct it.
            "correct a segment of a public track",
            f(
                "/api/transcripts/edit",
                vec![
                    ("track_id", public.clone()),
                    ("idx", "0".into()),
                    ("text", "x".into()),
                ],
            ),
            [un, nf, fb, nf],
        ),
        (
            "correct a segment of a private track",
            f(
                "/api/transcripts/edit",
                vec![
                    ("track_id", id.clone()),
                    ("idx", "0".into()),
                    ("text", "x".into()),
                ],
            ),
            [un, nf, nf, nf],
        ),
        (
            "transcription account",
            f("/api/transcripts/account", vec![]),
            [un, ok, ok, ok],
        ),
        (
            "transcribe my uploads",
            f("/api/transcripts/default", vec![("on", "false".into())]),
            [un, ok, ok, ok],
        ),
        (
            "transcribe every track",
            f("/api/transcripts/all", vec![]),
            [un, fb, fb, S::CONFLICT],
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

crate::both_backends!(
    authorization_matrix,
    admin_functions_answer_401_403_200,
    account_functions_need_a_session,
    mutations_refuse_get,
);
