//! Accounts: login and registration limits for the whole deployment, the
//! client address behind a proxy, the `__Host-` cookie, key revocation.

use axum::body::Body;
use http::{Request, StatusCode};

use crate::helpers::{form, get, send_via, with_bearer, with_cookie, Backend, TestApp, PASSWORD};
use crate::uploads::api_key;

async fn logins_and_registrations_are_limited_for_the_whole_deployment(b: Backend) {
    let app = TestApp::with(b, |s| {
        s.login_max_failures = 10;
        s.login_max_failures_per_hour = 15;
        s.register_per_hour = 3;
    })
    .await;
    // A second process on the same database.
    let other = app.second_process().await;
    let send_other = |req: Request<Body>, ip: &str| {
        let router = other.clone();
        let ip = ip.to_string();
        async move { send_via(router, req, &ip).await.status }
    };
    // Registrations per address, counted across both processes.
    for (i, ip) in ["10.9.0.1", "10.9.0.1", "10.9.0.1"].iter().enumerate() {
        let email = format!("r{i}@example.com");
        let res = if i % 2 == 0 {
            app.send_from(
                form(
                    "/api/register",
                    &[("email", &email), ("password", PASSWORD)],
                ),
                ip,
            )
            .await
            .status
        } else {
            send_other(
                form(
                    "/api/register",
                    &[("email", &email), ("password", PASSWORD)],
                ),
                ip,
            )
            .await
        };
        assert_eq!(res, StatusCode::OK);
    }
    let res = send_other(
        form(
            "/api/register",
            &[("email", "r9@example.com"), ("password", PASSWORD)],
        ),
        "10.9.0.1",
    )
    .await;
    assert_eq!(res, StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .send_from(
            form(
                "/api/register",
                &[("email", "r9@example.com"), ("password", PASSWORD)],
            ),
            "10.9.0.2",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);

    // 30 wrong passwords at once, half through each process: exactly ten
    // are judged, the rest refused unjudged.
    let bad = [
        ("email", "r0@example.com"),
        ("password", "not the password"),
    ];
    let mut tasks = Vec::new();
    for i in 0..30 {
        let ip = format!("10.8.{i}.1");
        if i % 2 == 0 {
            let router = app.router.clone();
            tasks.push(tokio::spawn(async move {
                send_via(router, form("/api/login", &bad), &ip).await.status
            }));
        } else {
            let fut = send_other(form("/api/login", &bad), &ip);
            tasks.push(tokio::spawn(fut));
        }
    }
    let mut judged = 0;
    for t in tasks {
        match t.await.expect("join") {
            StatusCode::UNAUTHORIZED => judged += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(judged, 10);

    // The hourly limit per account holds past the per-minute window.
    sqlx::query("UPDATE throttle_hits SET window_start = window_start - 120000 WHERE key LIKE 'login-acct:60:%' OR key LIKE 'login-ip:%'")
        .execute(app.state.db.pool())
        .await
        .expect("age the minute windows");
    let mut statuses = Vec::new();
    for i in 0..7 {
        let ip = format!("10.7.{i}.1");
        statuses.push(
            app.send_from(form("/api/login", &bad), &ip)
                .await
                .status
                .as_u16(),
        );
    }
    // 10 failures so far in the hour; 5 more are judged, then 429.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let good = [("email", "r0@example.com"), ("password", PASSWORD)];
    assert_eq!(
        app.send_from(form("/api/login", &good), "10.7.99.1")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn forwarded_for_is_read_from_the_right(b: Backend) {
    let app = TestApp::with(b, |s| s.trust_proxy = true).await;
    app.register("fwd@example.com").await;
    for i in 0..10 {
        let mut req = form(
            "/api/login",
            &[
                ("email", &format!("nobody{i}@example.com")),
                ("password", "wrong password 1"),
            ],
        );
        // The attacker writes a new address on the left each time; the
        // proxy appends the one it saw.
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{i}, 203.0.113.9").parse().expect("hv"),
        );
        assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
    }
    let mut req = form(
        "/api/login",
        &[("email", "fwd@example.com"), ("password", PASSWORD)],
    );
    req.headers_mut().insert(
        "x-forwarded-for",
        "192.0.2.77, 203.0.113.9".parse().expect("hv"),
    );
    assert_eq!(app.send(req).await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn the_https_session_cookie_is_host_prefixed(b: Backend) {
    let app = TestApp::with(b, |s| s.public_url = "https://wavekeep.example".into()).await;
    let res = app
        .send(form(
            "/api/register",
            &[("email", "h@example.com"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|c| c.contains("wk_session="))
        .expect("cookie");
    assert!(cookie.starts_with("__Host-wk_session="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
    let pair = cookie.split(';').next().expect("pair").to_string();
    let res = app.send(with_cookie(form("/api/viewer", &[]), &pair)).await;
    assert_eq!(res.json()["email"], "h@example.com");
    // The unprefixed name (which a subdomain could plant) means nothing over https.
    let planted = pair.replace("__Host-wk_session=", "wk_session=");
    let res = app
        .send(with_cookie(form("/api/viewer", &[]), &planted))
        .await;
    assert_eq!(res.json(), serde_json::Value::Null);
}

async fn a_revoked_key_is_refused_at_once_everywhere(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("keys@example.com").await;
    let key = api_key(&app, &cookie).await;
    let other = app.second_process().await;
    let me_on_other = || {
        let router = other.clone();
        let key = key.clone();
        async move {
            send_via(router, with_bearer(get("/api/v1/me"), &key), "127.0.0.1")
                .await
                .status
        }
    };
    assert_eq!(me_on_other().await, StatusCode::OK);
    let keys = app
        .send(with_cookie(get("/api/v1/api-keys"), &cookie))
        .await
        .json();
    let id = keys[0]["id"].as_i64().expect("id");
    let req = Request::delete(format!("/api/v1/api-keys/{id}"))
        .body(Body::empty())
        .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert!(res.status.is_success(), "{}", res.text);
    assert_eq!(me_on_other().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.send(with_bearer(get("/api/v1/me"), &key)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

crate::both_backends!(
    logins_and_registrations_are_limited_for_the_whole_deployment,
    forwarded_for_is_read_from_the_right,
    the_https_session_cookie_is_host_prefixed,
    a_revoked_key_is_refused_at_once_everywhere,
);
