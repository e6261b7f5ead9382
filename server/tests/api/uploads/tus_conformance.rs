//! tus conformance: every error the protocol defines, with its status and
//! headers (versions, offsets, lengths, checksums, methods, expiry).

use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use sha1::Digest;

use super::*;
use crate::helpers::{with_cookie, Backend, TestApp};

async fn tus_conformance_errors(b: Backend) {
    // The local disk, whatever the suite's storage: the sweep below plants
    // an orphan in the data directory (storage::stores_serves_… sweeps one
    // on object storage).
    let app = TestApp::with(b, |s| s.object_store = None).await;
    let cookie = app.register("ana@example.com").await;
    let other = app.register("bob@example.com").await;

    let res = app
        .send(
            Request::options("/api/uploads")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(hdr(&res, "tus-version"), "1.0.0");
    for ext in [
        "creation",
        "termination",
        "checksum",
        "expiration",
        "concatenation",
    ] {
        assert!(
            hdr(&res, "tus-extension").split(',').any(|e| e == ext),
            "{ext}"
        );
    }
    assert!(hdr(&res, "tus-checksum-algorithm").contains("sha1"));
    assert!(hdr(&res, "tus-max-size").parse::<u64>().expect("max") > 0);

    // Anonymous: 401. Missing Tus-Resumable: 412.
    let res = app
        .send(create_req(10, &[]).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app
        .send(with_cookie(
            Request::post("/api/uploads")
                .header("Upload-Length", "10")
                .body(Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::PRECONDITION_FAILED);
    // No length, bad metadata.
    let res = app
        .send(with_cookie(
            Request::post("/api/uploads")
                .header("Tus-Resumable", "1.0.0")
                .body(Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let mut req = create_req(10, &[]).body(Body::empty()).expect("r");
    req.headers_mut()
        .insert("upload-metadata", "filename %%%".parse().expect("h"));
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::BAD_REQUEST
    );

    let data = vec![7u8; 1000];
    let url = create(&app, &cookie, data.len(), "x.wav").await;
    // Someone else's upload does not exist for them.
    assert_eq!(
        app.send(with_cookie(head(&url), &other)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(with_cookie(patch(&url, 0, &data[..10]), &other))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Wrong offset: 409 and nothing written.
    let res = app
        .send(with_cookie(patch(&url, 5, &data[..10]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    // Wrong content type: 415.
    let mut req = patch(&url, 0, &data[..10]);
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("h"),
    );
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // A good PATCH, then a bad checksum: 460 and the offset unchanged.
    let res = app
        .send(with_cookie(patch(&url, 0, &data[..100]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let mut req = patch(&url, 100, &data[100..200]);
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"other bytes"));
    req.headers_mut().insert(
        "upload-checksum",
        format!("sha1 {wrong}").parse().expect("h"),
    );
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status.as_u16(), 460, "{}", res.text);
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(hdr(&res, "upload-offset"), "100");
    // Unknown checksum algorithm: 400.
    let mut req = patch(&url, 100, &data[100..200]);
    req.headers_mut()
        .insert("upload-checksum", "crc99 AAAA".parse().expect("h"));
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    // More than Upload-Length: 413, offset unchanged.
    let res = app
        .send(with_cookie(patch(&url, 100, &vec![1u8; 2000]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(hdr(&res, "upload-offset"), "100");

    // Expired: 410; after the sweep, 404 and the bytes are gone.
    sqlx::query("UPDATE uploads SET expires_at = 1")
        .execute(app.state.db.pool())
        .await
        .expect("expire");
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        app.send(with_cookie(patch(&url, 100, &data[100..]), &cookie))
            .await
            .status,
        StatusCode::GONE
    );
    // A stored file whose row never committed (a crash), and a stale temp file.
    let dir = app.state.settings.data_dir.clone();
    let orphan = dir.join("objects/ab/cd").join("abcd".repeat(16));
    std::fs::create_dir_all(orphan.parent().expect("dir")).expect("mkdir");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for path in [orphan.clone(), dir.join("tmp/left.upload")] {
        std::fs::write(&path, b"x").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(two_hours_ago))
            .expect("age");
    }
    server::storage::sweep::sweep(&app.state, &app.state.storage)
        .await
        .expect("sweep");
    assert!(!orphan.exists(), "the unreferenced object is removed");
    assert!(
        !dir.join("tmp/left.upload").exists(),
        "the stale temp file is removed"
    );
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.count("uploads").await, 0);

    // Termination.
    let url = create(&app, &cookie, 10, "y.wav").await;
    let del = Request::delete(&url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("r");
    assert_eq!(
        app.send(with_cookie(del, &other)).await.status,
        StatusCode::NOT_FOUND
    );
    let del = Request::delete(&url)
        .header("Tus-Resumable", "1.0.0")
        .body(Body::empty())
        .expect("r");
    assert_eq!(
        app.send(with_cookie(del, &cookie)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(with_cookie(head(&url), &cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    let parts = std::fs::read_dir(app.state.settings.data_dir.join("uploads"))
        .expect("dir")
        .count();
    assert_eq!(parts, 0, "no bytes are left behind");
}

crate::both_backends!(tus_conformance_errors,);
