//! Register, login, logout, sessions and login throttling.

use http::StatusCode;

use crate::helpers::{form, with_cookie, Backend, TestApp, PASSWORD};

async fn viewer(app: &TestApp, cookie: &str) -> serde_json::Value {
    let res = app
        .send(with_cookie(form("/api/viewer", &[]), cookie))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.json()
}

async fn register_sets_a_safe_cookie_and_signs_in(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app
        .send(form(
            "/api/register",
            &[("email", " Sam@Example.com "), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let set = res.set_cookies().join("\n");
    assert!(set.contains("wk_session="), "{set}");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(
        !set.contains("Secure"),
        "plain http must not set Secure: {set}"
    );
    let cookie = res.session_cookie().expect("cookie");
    let v = viewer(&app, &cookie).await;
    assert_eq!(v["email"], "sam@example.com");
    assert_eq!(v["role"], "User");
    // The database keeps only a hash of the session token.
    let token = cookie.trim_start_matches("wk_session=");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id_hash = $1")
        .bind(token)
        .fetch_one(app.state.db.pool())
        .await
        .expect("query");
    assert_eq!(stored, 0, "raw token must not be stored");
    assert_eq!(app.count("sessions").await, 1);
}

async fn cookie_is_secure_over_https(b: Backend) {
    let app = TestApp::with(b, |s| s.public_url = "https://wavekeep.example".into()).await;
    let res = app
        .send(form(
            "/api/register",
            &[("email", "a@example.com"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert!(res.set_cookies().join(";").contains("Secure"));

    let proxied = TestApp::with(b, |s| s.trust_proxy = true).await;
    let mut req = form(
        "/api/register",
        &[("email", "b@example.com"), ("password", PASSWORD)],
    );
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().expect("hv"));
    let res = proxied.send(req).await;
    assert!(
        res.set_cookies().join(";").contains("Secure"),
        "{:?}",
        res.set_cookies()
    );
}

async fn login_gives_a_new_session_each_time(b: Backend) {
    let app = TestApp::new(b).await;
    let first = app.register("lee@example.com").await;
    // A cookie planted before login (session fixation) is replaced, not reused.
    let planted = "wk_session=attacker-chosen-value";
    let res = app
        .send(with_cookie(
            form(
                "/api/login",
                &[("email", "LEE@example.com"), ("password", PASSWORD)],
            ),
            planted,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let second = res.session_cookie().expect("cookie");
    assert_ne!(first, second);
    assert_ne!(second, planted);
    assert_eq!(viewer(&app, &second).await["email"], "lee@example.com");
    assert_eq!(viewer(&app, planted).await, serde_json::Value::Null);
}

async fn wrong_password_is_refused(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("kim@example.com").await;
    let res = app
        .send(form(
            "/api/login",
            &[
                ("email", "kim@example.com"),
                ("password", "not the password"),
            ],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.text.contains("InvalidCredentials"), "{}", res.text);
    assert!(res.session_cookie().is_none());
    let res = app
        .send(form(
            "/api/login",
            &[("email", "nobody@example.com"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn logout_ends_the_session(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("max@example.com").await;
    assert_eq!(viewer(&app, &cookie).await["email"], "max@example.com"); // now cached
    let res = app
        .send(with_cookie(form("/api/logout", &[]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let cleared = res.set_cookies().join(";");
    assert!(
        cleared.contains("wk_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(viewer(&app, &cookie).await, serde_json::Value::Null);
    assert_eq!(app.count("sessions").await, 0);
}

async fn failed_logins_are_throttled_per_account(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("ana@example.com").await;
    app.register("bo@example.com").await;
    let bad = [
        ("email", "ana@example.com"),
        ("password", "wrong password 1"),
    ];
    for i in 0..10 {
        let res = app.send_from(form("/api/login", &bad), "10.0.0.1").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The eleventh try is refused even with the right password, from any address.
    let good = [("email", "ana@example.com"), ("password", PASSWORD)];
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let res = app.send_from(form("/api/login", &good), ip).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "from {ip}");
        let retry: u64 = res.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("secs");
        assert!((1..=60).contains(&retry), "retry-after {retry}");
    }
    // Another account is unaffected.
    let res = app
        .send_from(
            form(
                "/api/login",
                &[("email", "bo@example.com"), ("password", PASSWORD)],
            ),
            "10.0.0.2",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

async fn failed_logins_are_throttled_per_ip(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("cy@example.com").await;
    for i in 0..10 {
        let who = format!("guess{i}@example.com");
        let res = app
            .send_from(
                form(
                    "/api/login",
                    &[("email", &who), ("password", "wrong password 1")],
                ),
                "10.0.0.9",
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let good = [("email", "cy@example.com"), ("password", PASSWORD)];
    let res = app.send_from(form("/api/login", &good), "10.0.0.9").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    let res = app.send_from(form("/api/login", &good), "10.0.0.10").await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn expired_sessions_stop_working_and_are_swept(b: Backend) {
    let app = TestApp::new(b).await;
    let live = app.register("old@example.com").await;
    let stale = app.register("old2@example.com").await;
    let stale_hash = app::auth::session::hash_token(stale.trim_start_matches("wk_session="));
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE id_hash = $1")
        .bind(&stale_hash)
        .execute(app.state.db.pool())
        .await
        .expect("expire");
    app.state.viewers.invalidate(&stale_hash).await;
    assert_eq!(viewer(&app, &stale).await, serde_json::Value::Null);
    let swept = app::auth::db::delete_expired_sessions(&app.state.db)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert_eq!(app.count("sessions").await, 1);
    assert_eq!(viewer(&app, &live).await["email"], "old@example.com");
}

/// Two processes on one PostgreSQL database: a session the other process
/// has cached ends there the moment a logout here returns, and a role
/// change here holds there at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logout_and_role_changes_hold_in_every_process() {
    if !crate::helpers::pg_enabled() {
        eprintln!("postgres variant not run: WAVEKEEP_TEST_PG_URL is not set");
        return;
    }
    crate::helpers::bounded(async {
        let app = TestApp::new(Backend::Postgres).await;
        let other = app.second_state().await;
        let listen = tokio::spawn(server::worker::listen_for_enqueues(other.app.clone()));
        let other_router = server::router(other.clone());
        let seen_there = |cookie: String| {
            let router = other_router.clone();
            async move {
                let res = crate::helpers::send_via(
                    router,
                    with_cookie(form("/api/viewer", &[]), &cookie),
                    "127.0.0.1",
                )
                .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
                res.json()
            }
        };
        // The other process subscribes.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;

        let root = app.admin("root@example.com").await;
        let cookie = app.register("max@example.com").await;
        let max = crate::helpers::user_id(&app, "max@example.com").await;
        // Cached over there now.
        assert_eq!(seen_there(cookie.clone()).await["role"], "User");
        assert_eq!(seen_there(cookie.clone()).await["role"], "User");
        let res = app
            .send(with_cookie(
                form(
                    "/api/admin/set_role",
                    &[("user_id", &max.to_string()), ("role", "Admin")],
                ),
                &root,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let mut role = serde_json::Value::Null;
        for _ in 0..50 {
            role = seen_there(cookie.clone()).await["role"].clone();
            if role == "Admin" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(role, "Admin", "the role change reached the other process");

        let res = app
            .send(with_cookie(form("/api/logout", &[]), &cookie))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let mut after = serde_json::Value::Bool(true);
        for _ in 0..50 {
            after = seen_there(cookie.clone()).await;
            if after.is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(after, serde_json::Value::Null, "logged out there too");
        listen.abort();
        other.db.close().await;
    })
    .await;
}

crate::both_backends!(
    expired_sessions_stop_working_and_are_swept,
    register_sets_a_safe_cookie_and_signs_in,
    cookie_is_secure_over_https,
    login_gives_a_new_session_each_time,
    wrong_password_is_refused,
    logout_ends_the_session,
    failed_logins_are_throttled_per_account,
    failed_logins_are_throttled_per_ip,
);
