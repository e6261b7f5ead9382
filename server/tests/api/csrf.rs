//! State-changing requests that a browser marks cross-site are refused.

use http::StatusCode;

use crate::helpers::{form, get, Backend, TestApp, PASSWORD};

async fn cross_site_posts_are_refused_and_write_nothing(b: Backend) {
    let app = TestApp::new(b).await;
    let fields = [("email", "victim@example.com"), ("password", PASSWORD)];

    let mut req = form("/api/register", &fields);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().expect("hv"));
    req.headers_mut()
        .insert("host", "127.0.0.1:3000".parse().expect("hv"));
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);

    let mut req = form("/api/register", &fields);
    req.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().expect("hv"));
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);

    let mut req = form("/api/register", &fields);
    req.headers_mut()
        .insert("origin", "null".parse().expect("hv"));
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("users").await,
        0,
        "a refused request must write nothing"
    );

    // The same request from the app's own origin goes through.
    let mut req = form("/api/register", &fields);
    req.headers_mut()
        .insert("origin", "http://127.0.0.1:3000".parse().expect("hv"));
    req.headers_mut()
        .insert("host", "127.0.0.1:3000".parse().expect("hv"));
    req.headers_mut()
        .insert("sec-fetch-site", "same-origin".parse().expect("hv"));
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);

    // Reads are not blocked.
    let mut req = get("/healthz");
    req.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().expect("hv"));
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

crate::both_backends!(cross_site_posts_are_refused_and_write_nothing);
