//! Test fixtures: a fresh database per test (a temp SQLite file, or a new
//! PostgreSQL database when `WAVEKEEP_TEST_PG_URL` is set), the router
//! in-process, or the real server on 127.0.0.1:0.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use app::settings::Settings;
use server::ServerState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_url() -> Option<String> {
    std::env::var("WAVEKEEP_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the PostgreSQL variant of a test should run; panics when the
/// test command promised PostgreSQL (`WAVEKEEP_TEST_REQUIRE_PG=1`) but no URL is set.
pub fn pg_enabled() -> bool {
    let enabled = pg_url().is_some();
    if !enabled && std::env::var("WAVEKEEP_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("WAVEKEEP_TEST_REQUIRE_PG=1 but WAVEKEEP_TEST_PG_URL is not set");
    }
    enabled
}

/// Generates `sqlite::name` and `postgres::name` for each listed
/// `async fn name(Backend)` in the calling module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::bounded(super::$name($crate::helpers::Backend::Sqlite)).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::helpers::pg_enabled() {
                        eprintln!("postgres variant not run: WAVEKEEP_TEST_PG_URL is not set");
                        return;
                    }
                    $crate::helpers::bounded(super::$name($crate::helpers::Backend::Postgres)).await
                }
            )*
        }
    };
}

/// The suite's S3 bucket (`scripts/test` starts SeaweedFS on loopback and
/// sets `WAVEKEEP_TEST_S3_*`), under a prefix of this test's own; `None`
/// when none is set up (a panic when the test command promised one,
/// `WAVEKEEP_TEST_REQUIRE_S3=1`).
pub fn s3_settings() -> Option<app::settings::ObjectStoreSettings> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("WAVEKEEP_TEST_S3_ENDPOINT") else {
        if std::env::var("WAVEKEEP_TEST_REQUIRE_S3").is_ok_and(|v| v == "1") {
            panic!("WAVEKEEP_TEST_REQUIRE_S3=1 but WAVEKEEP_TEST_S3_ENDPOINT is not set");
        }
        return None;
    };
    Some(app::settings::ObjectStoreSettings {
        bucket: var("WAVEKEEP_TEST_S3_BUCKET").unwrap_or_else(|| "wavekeep-test".into()),
        prefix: format!("t-{}-{:08x}", std::process::id(), rand::random::<u32>()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: var("WAVEKEEP_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("WAVEKEEP_TEST_S3_SECRET_ACCESS_KEY").map(Into::into),
        allow_http: Some(true),
        virtual_hosted: Some(false),
        redirect: false,
    })
}

/// Whether every test app stores its files in the S3 bucket
/// (`WAVEKEEP_TEST_STORAGE=s3`: the suite run once more on object storage).
pub fn suite_on_s3() -> bool {
    std::env::var("WAVEKEEP_TEST_STORAGE").is_ok_and(|v| v == "s3")
}

/// Runs a test body with a time limit, so a wedged test fails with a message
/// instead of stalling the whole run.
pub async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(120), body)
        .await
        .expect("the test did not finish within 120 s");
}

pub struct TestApp {
    pub state: ServerState,
    pub router: Router,
    pub database_url: String,
    _dir: tempfile::TempDir,
    pg_db: Option<(String, String)>,
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        Self::with(backend, |_| {}).await
    }

    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        // `WAVEKEEP_TEST_LOG=info` (a tracing filter) shows the server's log.
        if let Ok(filter) = std::env::var("WAVEKEEP_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        settings.pool.min_connections = 0;
        // The test binary is not wavekeep: decoders run from the real binary.
        settings.media_exe = Some(env!("CARGO_BIN_EXE_wavekeep").into());
        if suite_on_s3() {
            settings.object_store = Some(s3_settings().expect("WAVEKEEP_TEST_S3_ENDPOINT"));
        }
        tweak(&mut settings);
        let (database_url, pg_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin = pg_url().expect("WAVEKEEP_TEST_PG_URL");
                let name = format!("wk_t_{}_{}", std::process::id(), rand::random::<u32>());
                create_pg_db(&admin, &name).await;
                (with_db_name(&admin, &name), Some((admin, name)))
            }
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let state = server::build_state(settings, &database_url, addr)
            .await
            .expect("state");
        let router = server::router(state.clone());
        TestApp {
            state,
            router,
            database_url,
            _dir: dir,
            pg_db,
        }
    }

    /// Sends a request through the router in-process, from `127.0.0.1`.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        self.send_from(req, "127.0.0.1").await
    }

    /// Sends a request as if it came from `ip`.
    pub async fn send_from(&self, req: Request<Body>, ip: &str) -> TestResponse {
        send_via(self.router.clone(), req, ip).await
    }

    /// The router of a second process on the same database (its own caches,
    /// throttles in memory, pools): what holds across processes must hold here.
    pub async fn second_process(&self) -> Router {
        server::router(self.second_state().await)
    }

    /// The state of a second process on the same database (for its workers).
    pub async fn second_state(&self) -> ServerState {
        server::build_state(
            (*self.state.settings).clone(),
            &self.database_url,
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("second state")
    }

    /// Starts the real server on an ephemeral loopback port.
    pub async fn spawn(&self) -> Spawned {
        spawn_state(self.state.clone()).await
    }

    /// How many files the storage holds under `top` (`objects`, `derived`),
    /// on whichever backend this app uses.
    pub async fn stored_files(&self, top: &str) -> usize {
        self.state
            .storage
            .count_files(top)
            .await
            .expect("listing stored files")
    }

    /// The stored file behind `key`, in full.
    pub async fn stored(&self, key: &str) -> Vec<u8> {
        self.state
            .storage
            .read(key)
            .await
            .expect("reading a stored file")
            .unwrap_or_else(|| panic!("no stored file {key}"))
    }

    pub async fn count(&self, table: &str) -> i64 {
        // Table names come from the tests themselves, never from input.
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(self.state.db.pool())
            .await
            .expect("count")
    }

    /// Registers an account through the server function and returns its cookie.
    pub async fn register(&self, email: &str) -> String {
        let res = self
            .send(form(
                "/api/register",
                &[("email", email), ("password", PASSWORD)],
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "register {email}: {}", res.text);
        res.session_cookie().expect("session cookie")
    }

    /// Creates an admin through the service layer and logs in.
    pub async fn admin(&self, email: &str) -> String {
        app::auth::service::create_admin(&self.state.db, email, PASSWORD)
            .await
            .expect("admin");
        let res = self
            .send(form(
                "/api/login",
                &[("email", email), ("password", PASSWORD)],
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        res.session_cookie().expect("cookie")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_db.take() {
            // Drop runs outside async context (also on panic): use a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_pg_db(&admin, &name));
                }
            })
            .join();
        }
    }
}

/// Sends a request through `router` in-process as if it came from `ip`
/// (also from spawned tasks, or to a second process's router).
pub async fn send_via(router: Router, mut req: Request<Body>, ip: &str) -> TestResponse {
    let addr: SocketAddr = format!("{ip}:40000").parse().expect("ip");
    req.extensions_mut().insert(ConnectInfo(addr));
    let what = format!("{} {}", req.method(), req.uri());
    let res = async {
        let res = router.oneshot(req).await.expect("infallible");
        TestResponse::read(res).await
    };
    // A request that never finishes names itself instead of stalling the test.
    tokio::time::timeout(std::time::Duration::from_secs(30), res)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 30 s"))
}

/// The id of the account with this email.
pub async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.state.db.pool())
        .await
        .expect("user id")
}

pub const PASSWORD: &str = "correct horse battery";

fn with_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

async fn create_pg_db(admin: &str, name: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("postgres admin connection");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
}

async fn drop_pg_db(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// Starts the real server over `state` on an ephemeral loopback port.
pub async fn spawn_state(state: ServerState) -> Spawned {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        server::serve(state, listener, async {
            let _ = rx.await;
        })
        .await
    });
    Spawned {
        base: format!("http://{addr}"),
        stop: Some(tx),
        handle,
    }
}

pub struct Spawned {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Spawned {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks for a graceful shutdown and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let res = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.handle)
            .await
            .expect("server stops within 10 s");
        res.expect("join").expect("serve");
    }
}

/// A url-encoded POST, as a browser form or a server-function client sends it.
pub fn form(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

pub fn with_cookie(mut req: Request<Body>, cookie: &str) -> Request<Body> {
    req.headers_mut()
        .insert(header::COOKIE, cookie.parse().expect("cookie header"));
    req
}

pub fn with_bearer(mut req: Request<Body>, key: &str) -> Request<Body> {
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("auth header"),
    );
    req
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl TestResponse {
    async fn read(res: axum::response::Response) -> TestResponse {
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// `wk_session=<token>` (or `__Host-wk_session=…` over https) from a
    /// non-empty session Set-Cookie.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            let pair = c.split(';').next()?.trim().to_string();
            let value = pair
                .strip_prefix("wk_session=")
                .or_else(|| pair.strip_prefix("__Host-wk_session="))?;
            (!value.is_empty()).then_some(pair)
        })
    }
}
