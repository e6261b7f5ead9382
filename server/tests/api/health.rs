//! /healthz and /readyz, and migrations that go down and up again.

use http::StatusCode;

use crate::helpers::{get, Backend, TestApp};

async fn health_and_readiness_follow_the_schema(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app.send(get("/healthz")).await;
    assert_eq!((res.status, res.text.as_str()), (StatusCode::OK, "ok\n"));
    assert_eq!(app.send(get("/readyz")).await.status, StatusCode::OK);

    app.register("keep@example.com").await;
    app.state.db.revert_to(0).await.expect("down migrations");
    assert_eq!(
        app.send(get("/readyz")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);

    app.state.db.migrate().await.expect("up again");
    assert_eq!(app.send(get("/readyz")).await.status, StatusCode::OK);
    assert_eq!(
        app.count("users").await,
        0,
        "down migration dropped the tables"
    );
    app.register("again@example.com").await;
}

async fn readiness_fails_when_the_database_is_gone(b: Backend) {
    let app = TestApp::new(b).await;
    app.state.db.close().await;
    assert_eq!(
        app.send(get("/readyz")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);
}

crate::both_backends!(
    health_and_readiness_follow_the_schema,
    readiness_fails_when_the_database_is_gone,
);
