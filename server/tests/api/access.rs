//! Who may call what: anonymous → 401, signed in but not allowed → 403.

use http::StatusCode;

use crate::helpers::{form, get, with_cookie, Backend, TestApp};

async fn admin_functions_answer_401_403_200(b: Backend) {
    let app = TestApp::new(b).await;
    let user = app.register("user@example.com").await;
    let admin = app.admin("root@example.com").await;

    let anon = app.send(form("/api/admin/users", &[])).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    let as_user = app
        .send(with_cookie(form("/api/admin/users", &[]), &user))
        .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
    let as_admin = app
        .send(with_cookie(form("/api/admin/users", &[]), &admin))
        .await;
    assert_eq!(as_admin.status, StatusCode::OK, "{}", as_admin.text);
    assert_eq!(as_admin.json().as_array().map(Vec::len), Some(2));

    // A user cannot promote themselves; an admin can promote them.
    let user_id =
        sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE email = 'user@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("id")
            .to_string();
    let promote = [("user_id", user_id.as_str()), ("role", "Admin")];
    let res = app
        .send(with_cookie(form("/api/admin/set_role", &promote), &user))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app
        .send(with_cookie(form("/api/admin/set_role", &promote), &admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    // The new role applies to the existing session at once.
    let res = app
        .send(with_cookie(form("/api/admin/users", &[]), &user))
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn account_functions_need_a_session(b: Backend) {
    let app = TestApp::new(b).await;
    for path in [
        "/api/api_keys/list",
        "/api/api_keys/create",
        "/api/api_keys/revoke",
    ] {
        let res = app.send(form(path, &[("name", "x"), ("id", "1")])).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{path}: {}", res.text);
    }
    let res = app.send(get("/api/v1/me")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app.send(get("/api/v1/api-keys")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("api_keys").await, 0);
}

async fn mutations_refuse_get(b: Backend) {
    let app = TestApp::new(b).await;
    for path in [
        "/api/login?email=a%40b.co&password=x",
        "/api/logout",
        "/api/register",
    ] {
        let res = app.send(get(path)).await;
        assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

crate::both_backends!(
    admin_functions_answer_401_403_200,
    account_functions_need_a_session,
    mutations_refuse_get,
);
