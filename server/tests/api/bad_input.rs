//! Bad input gets a clear 4xx and leaves nothing half-written.

use axum::body::Body;
use http::{Request, StatusCode};

use crate::helpers::{form, with_cookie, Backend, TestApp, PASSWORD};

async fn duplicate_email_is_409(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("dup@example.com").await;
    let res = app
        .send(form(
            "/api/register",
            &[("email", "DUP@example.com"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.text.contains("already exists"), "{}", res.text);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 1);
}

async fn weak_password_names_the_rule(b: Backend) {
    let app = TestApp::new(b).await;
    for (pw, rule) in [
        ("short", "at least 10 characters"),
        ("aaaaaaaaaaaaaa", "5 different characters"),
        ("password12345", "common"),
    ] {
        let res = app
            .send(form(
                "/api/register",
                &[("email", "w@example.com"), ("password", pw)],
            ))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{pw}");
        assert!(res.text.contains(rule), "{pw}: {}", res.text);
    }
    let res = app
        .send(form(
            "/api/register",
            &[("email", "not-an-email"), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.text.contains('@'), "{}", res.text);
    assert_eq!(app.count("users").await, 0);
}

async fn malformed_forms_are_400(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app
        .send(form("/api/register", &[("email", "x@example.com")]))
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "missing field: {}",
        res.text
    );
    let req = Request::post("/api/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("%%%&&&=\u{0}"))
        .expect("req");
    let res = app.send(req).await;
    assert!(
        res.status == StatusCode::BAD_REQUEST,
        "garbage: {} {}",
        res.status,
        res.text
    );
    let cookie = app.register("f@example.com").await;
    let res = app
        .send(with_cookie(
            form("/api/api_keys/revoke", &[("id", "not-a-number")]),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    assert_eq!(app.count("users").await, 1);
}

async fn malformed_json_is_400(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("j@example.com").await;
    for (ct, body) in [
        ("application/json", "{\"name\": "),
        ("application/json", "[1,2,3]"),
        ("application/json", "{\"name\":\"a\",\"extra\":1}"),
        ("text/plain", "{\"name\":\"a\"}"),
    ] {
        let req = Request::post("/api/v1/api-keys")
            .header("content-type", ct)
            .body(Body::from(body))
            .expect("req");
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{ct} {body}: {}",
            res.text
        );
        assert!(res.json()["error"].is_string());
    }
    assert_eq!(app.count("api_keys").await, 0);
}

async fn oversized_bodies_are_413(b: Backend) {
    let app = TestApp::new(b).await;
    let big = "x".repeat(200 * 1024);
    let body = format!("email=big%40example.com&password={big}");
    let req = Request::post("/api/register")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", body.len().to_string())
        .body(Body::from(body))
        .expect("req");
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("users").await, 0);
}

crate::both_backends!(
    duplicate_email_is_409,
    weak_password_names_the_rule,
    malformed_forms_are_400,
    malformed_json_is_400,
    oversized_bodies_are_413,
);
