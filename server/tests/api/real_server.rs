//! The real server on 127.0.0.1:0 with a real HTTP client.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn a_browser_like_client_signs_up_in_and_out(b: Backend) {
    let app = TestApp::new(b).await;
    let server = app.spawn().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client");

    let res = client.get(server.url("/")).send().await.expect("get /");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.expect("body").contains("wavekeep"));

    let form = [("email", "web@example.com"), ("password", PASSWORD)];
    let res = client
        .post(server.url("/api/register"))
        .form(&form)
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json")["email"],
        "web@example.com"
    );

    let res = client
        .post(server.url("/api/logout"))
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Throttling sees the real peer address.
    let wrong = [
        ("email", "web@example.com"),
        ("password", "wrong password 1"),
    ];
    for _ in 0..10 {
        let res = client
            .post(server.url("/api/login"))
            .form(&wrong)
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = client
        .post(server.url("/api/login"))
        .form(&form)
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));

    // Oversized bodies are cut off with 413 before any work.
    let big = "y".repeat(100 * 1024);
    let res = client
        .post(server.url("/api/register"))
        .form(&[("email", "big@example.com"), ("password", big.as_str())])
        .send()
        .await
        .expect("big");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let base = server.base.clone();
    server.stop().await;
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "stopped server still answers"
    );
}

async fn api_key_works_over_the_wire(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("m@example.com").await;
    let key = app::auth::service::create_api_key(
        &app.state,
        &app::auth::Viewer {
            id: 1,
            email: "m@example.com".into(),
            role: app::auth::Role::User,
        },
        "probe",
    )
    .await
    .expect("key");
    drop(cookie);
    let server = app.spawn().await;
    let client = reqwest::Client::new();
    let res = client
        .get(server.url("/api/v1/me"))
        .bearer_auth(&key.secret)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .get(server.url("/api/v1/me"))
        .bearer_auth("wk_bogus")
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

crate::both_backends!(
    a_browser_like_client_signs_up_in_and_out,
    api_key_works_over_the_wire
);
