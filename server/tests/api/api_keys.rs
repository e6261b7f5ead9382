//! API keys: created once, stored hashed, accepted as Bearer, revocable.

use http::StatusCode;

use crate::helpers::{form, get, with_bearer, with_cookie, Backend, TestApp};

async fn create_key(app: &TestApp, cookie: &str, name: &str) -> (i64, String) {
    let res = app
        .send(with_cookie(
            form("/api/api_keys/create", &[("name", name)]),
            cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let j = res.json();
    (
        j["key"]["id"].as_i64().expect("id"),
        j["secret"].as_str().expect("secret").to_string(),
    )
}

async fn bearer_key_authenticates_until_revoked(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("dev@example.com").await;
    let (id, secret) = create_key(&app, &cookie, "scanner-01").await;
    assert!(secret.starts_with("wk_") && secret.len() > 40, "{secret}");

    let res = app.send(with_bearer(get("/api/v1/me"), &secret)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json()["email"], "dev@example.com");

    // Stored hashed: the secret appears nowhere in the table.
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(app.state.db.pool())
        .await
        .expect("query");
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&secret[3..]));

    // Listed with its prefix only, through the server function and the JSON API.
    let res = app
        .send(with_cookie(form("/api/api_keys/list", &[]), &cookie))
        .await;
    let list = res.json();
    assert_eq!(list[0]["name"], "scanner-01");
    assert!(secret.starts_with(list[0]["prefix"].as_str().expect("prefix")));
    assert!(!res.text.contains(&secret));
    let res = app
        .send(with_bearer(get("/api/v1/api-keys"), &secret))
        .await;
    assert_eq!(res.json()[0]["id"], id);
    assert!(
        res.json()[0]["last_used_at"].is_i64(),
        "use is recorded: {}",
        res.text
    );

    // Revoke: the key stops working at once (the viewer cache is invalidated).
    let res = app
        .send(with_cookie(
            form("/api/api_keys/revoke", &[("id", &id.to_string())]),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let res = app.send(with_bearer(get("/api/v1/me"), &secret)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn keys_of_others_cannot_be_revoked(b: Backend) {
    let app = TestApp::new(b).await;
    let alice = app.register("alice@example.com").await;
    let bob = app.register("bob@example.com").await;
    let (id, secret) = create_key(&app, &alice, "alice-key").await;
    let res = app
        .send(with_cookie(
            form("/api/api_keys/revoke", &[("id", &id.to_string())]),
            &bob,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let req = http::Request::delete(format!("/api/v1/api-keys/{id}"))
        .body(axum::body::Body::empty())
        .expect("req");
    let res = app.send(with_cookie(req, &bob)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // Still valid for its owner.
    let res = app.send(with_bearer(get("/api/v1/me"), &secret)).await;
    assert_eq!(res.status, StatusCode::OK);
    // Bob's list does not show it.
    let res = app
        .send(with_cookie(form("/api/api_keys/list", &[]), &bob))
        .await;
    assert_eq!(res.json(), serde_json::json!([]));
}

async fn json_api_creates_and_revokes_keys(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ops@example.com").await;
    let (_, secret) = create_key(&app, &cookie, "bootstrap").await;
    let req = http::Request::post("/api/v1/api-keys")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"name":"ci"}"#))
        .expect("req");
    let res = app.send(with_bearer(req, &secret)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let id = res.json()["key"]["id"].as_i64().expect("id");
    let req = http::Request::delete(format!("/api/v1/api-keys/{id}"))
        .body(axum::body::Body::empty())
        .expect("req");
    assert_eq!(
        app.send(with_bearer(req, &secret)).await.status,
        StatusCode::NO_CONTENT
    );
}

async fn unknown_bearer_is_401(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app
        .send(with_bearer(get("/api/v1/me"), "wk_not-a-real-key"))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.json()["error"].is_string());
}

crate::both_backends!(
    bearer_key_authenticates_until_revoked,
    keys_of_others_cannot_be_revoked,
    json_api_creates_and_revokes_keys,
    unknown_bearer_is_401,
);
