//! Server-rendered pages and the embedded site assets.

use http::StatusCode;

use crate::helpers::{get, with_cookie, Backend, TestApp};

async fn pages_render_with_the_right_status(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app.send(get("/")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.text.contains("No tracks yet"), "{}", res.text);
    assert!(
        res.text.contains("/pkg/wavekeep.js"),
        "hydration script is linked"
    );
    for path in ["/login", "/register"] {
        let res = app.send(get(path)).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert!(res.text.contains("name=\"password\""), "{path}");
    }
    let res = app.send(get("/no/such/page")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.text.contains("Not found"));

    let res = app.send(get("/admin")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.text.contains("Please log in"));
    let user = app.register("u@example.com").await;
    let res = app.send(with_cookie(get("/admin"), &user)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.text.contains("Admins only"));
    assert!(
        !res.text.contains("href=\"/admin\""),
        "no Admin link for users"
    );
    let admin = app.admin("a@example.com").await;
    let res = app.send(with_cookie(get("/admin"), &admin)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.text.contains("u@example.com") && res.text.contains("href=\"/admin\""));

    let res = app.send(with_cookie(get("/account"), &user)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.text.contains("u@example.com"));
    // Storage used and the quota, from the cached figure.
    assert!(res.text.contains("used (0 %)"), "{}", res.text);
    assert!(
        res.text.contains("10.0 GiB") || res.text.contains("10 GiB"),
        "{}",
        res.text
    );
}

async fn site_assets_are_embedded(b: Backend) {
    let app = TestApp::new(b).await;
    let names: Vec<String> = server::assets::names().collect();
    assert!(
        names.iter().any(|n| n == "pkg/wavekeep.wasm"),
        "the site is not built: run `cargo leptos build` before the tests ({names:?})"
    );
    for (path, mime) in [
        ("/pkg/wavekeep.wasm", "application/wasm"),
        ("/pkg/wavekeep.js", "text/javascript"),
        ("/pkg/wavekeep.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let res = app.send(get(path)).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(res.headers["content-type"], mime, "{path}");
        let etag = res.headers["etag"].to_str().expect("etag").to_string();
        let mut again = get(path);
        again
            .headers_mut()
            .insert("if-none-match", etag.parse().expect("hv"));
        assert_eq!(
            app.send(again).await.status,
            StatusCode::NOT_MODIFIED,
            "{path}"
        );
    }
}

crate::both_backends!(pages_render_with_the_right_status, site_assets_are_embedded);
