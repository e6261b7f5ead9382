//! Uploaded bytes never run as a page (whatever their name, claimed type
//! or content), pages carry a nonce policy, https answers carry HSTS.

use axum::body::Body;
use http::{header, Request, StatusCode};

use crate::helpers::{get, user_id, with_bearer, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, process};

use super::*;

async fn uploads_never_run_as_pages(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("mallory@example.com").await;
    let key = api_key(&app, &cookie).await;
    let me = user_id(&app, "mallory@example.com").await;
    let mut tracks = Vec::new();
    for (kind, bytes) in hostile_files() {
        for name in ["x.mp3", "x.html", "x.svg"] {
            // tus, claiming text/html.
            let title = format!("{kind} {name} tus");
            let id = tus_upload(
                &app,
                &cookie,
                &bytes,
                &[
                    ("filename", name),
                    ("filetype", "text/html"),
                    ("title", &title),
                ],
            )
            .await;
            tracks.push((kind, id));
            // The machine API, its part typed text/html.
            let boundary = "b0undary";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{kind} {name} api\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"{name}\"\r\n\
                 Content-Type: text/html\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let req = Request::post("/api/v1/tracks")
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .expect("request");
            let res = app.send(with_bearer(req, &key)).await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
            tracks.push((kind, res.json()["id"].as_i64().expect("id")));
        }
    }
    // Before any processing, and after it.
    for round in ["pending", "processed"] {
        if round == "processed" {
            process(&app).await;
        }
        for (kind, id) in &tracks {
            let res = app
                .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &cookie))
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            let t = res.json();
            let asset = t["versions"][0]["asset"]["id"].as_i64().expect("asset");
            let mime = t["versions"][0]["asset"]["mime"].as_str().unwrap_or("");
            assert!(
                mime.starts_with("audio/") || mime == "application/octet-stream",
                "{kind} {round}: stored type {mime}"
            );
            let recognised = t["versions"][0]["asset"]["codec"].is_string();
            // No stream link until the decoder recognised audio.
            assert_eq!(
                t.get("playback").is_some(),
                recognised,
                "{kind} {round}: playback {t}"
            );
            if *kind != "polyglot" {
                assert!(!recognised, "{kind} was taken for audio");
            }
            for url in media_urls(&app, asset, me) {
                let res = app.send(with_cookie(get(&url), &cookie)).await;
                let ct = res.header("content-type");
                assert!(
                    !ct.contains("html") && !ct.contains("svg") && !ct.contains("xml"),
                    "{kind} {round} {url}: {ct}"
                );
                assert_eq!(res.header("content-security-policy"), MEDIA_CSP, "{url}");
                assert_eq!(res.header("x-content-type-options"), "nosniff", "{url}");
                if res.status == StatusCode::OK {
                    assert!(
                        ct.starts_with("audio/") || ct == "application/octet-stream",
                        "{kind} {round}: {ct}"
                    );
                    if !ct.starts_with("audio/") {
                        assert!(
                            res.header("content-disposition").starts_with("attachment"),
                            "{kind} {round} {url}: {}",
                            res.header("content-disposition")
                        );
                    }
                }
            }
        }
    }
    // Even a file that plays is served sandboxed, never as a page.
    let (_, id) = tracks
        .iter()
        .find(|(k, _)| *k == "polyglot")
        .expect("polyglot");
    let res = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &cookie))
        .await;
    if let Some(src) = res.json()["playback"]["src"].as_str() {
        let res = app.send(with_cookie(get(src), &cookie)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header("content-type"), "audio/mpeg");
        assert_eq!(res.header("content-security-policy"), MEDIA_CSP);
    }
}

async fn pages_carry_a_nonce_policy_and_https_gets_hsts(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app.send(get("/")).await;
    assert_eq!(res.status, StatusCode::OK);
    let csp = res.header("content-security-policy").to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_string();
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("object-src 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page carries the nonce.
    for chunk in res.text.split("<script").skip(1) {
        let tag = chunk.split('>').next().unwrap_or("");
        if !tag.contains("src=") {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "inline script without the nonce: {tag}"
            );
        }
    }
    // A second page gets another nonce.
    let again = app.send(get("/")).await;
    assert_ne!(again.header("content-security-policy"), csp);
    // Not pages: nothing may load.
    let res = app.send(get("/api/queue-status")).await;
    assert!(res
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert!(res.headers.get("strict-transport-security").is_none());

    let proxied = TestApp::with(b, |s| s.trust_proxy = true).await;
    let mut req = get("/healthz");
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().expect("hv"));
    let res = proxied.send(req).await;
    assert!(res
        .header("strict-transport-security")
        .starts_with("max-age="));
    let res = proxied.send(get("/healthz")).await;
    assert!(res.headers.get("strict-transport-security").is_none());

    let https = TestApp::with(b, |s| s.public_url = "https://wavekeep.example".into()).await;
    for path in ["/", "/healthz", "/api/queue-status"] {
        let res = https.send(get(path)).await;
        assert!(
            res.header("strict-transport-security")
                .starts_with("max-age="),
            "{path}"
        );
    }
}

crate::both_backends!(
    uploads_never_run_as_pages,
    pages_carry_a_nonce_policy_and_https_gets_hsts,
);
