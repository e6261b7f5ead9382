//! The wavekeep process: builds the shared state, wires every route, and
//! serves until told to stop. `main.rs` only parses the command line.

pub mod assets;
pub mod config;
pub mod http;
pub mod listen;
pub mod media;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod transcribe;
pub mod uploads;
pub mod worker;

use std::future::Future;
use std::net::SocketAddr;

use ::http::HeaderValue;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tower_http::CompressionLevel;

use app::db::Db;
use app::settings::Settings;
use app::state::AppState;
use app::{shell, App};

pub use crate::state::ServerState;
use crate::storage::Storage;

/// Leptos options for the embedded site: fixed names, nothing read from disk.
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("wavekeep")
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Connects (and migrates) the database, opens the storage and builds the
/// state.
pub async fn build_state(
    settings: Settings,
    database_url: &str,
    addr: SocketAddr,
) -> anyhow::Result<ServerState> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let storage = Storage::open(&settings)?;
    storage.init().await?;
    let db = Db::connect(database_url, &settings.pool).await?;
    db.migrate().await?;
    tracing::info!(db.backend = db.backend().name(), "database ready");
    let secrets = app::signing::Secrets::load(&db).await?;
    let app = AppState::new(
        leptos_options(addr),
        db,
        settings,
        secrets,
        std::sync::Arc::new(storage.clone()),
    );
    Ok(ServerState { app, storage })
}

/// Every route of the app.
pub fn router(state: ServerState) -> Router {
    // Generated once per process: generating runs the app with resource
    // loading suppressed by a process-wide flag, and a page rendering in
    // that window would wait forever (leptos#4773). Several routers in one
    // process (the tests) must not generate while another one renders.
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| generate_route_list(App)).clone();
    let body_limit = state.settings.body_limit_bytes;
    let options = state.leptos_options.clone();
    // Per-API-key token buckets for the machine API and uploads.
    let limiter = http::rate::KeyLimiter::new(
        &state.db,
        state.settings.api_rate_per_minute,
        state.settings.api_rate_burst,
    );

    let api_v1 = Router::new()
        .route("/me", get(http::api_v1::me))
        .route(
            "/api-keys",
            get(http::api_v1::list_keys).post(http::api_v1::create_key),
        )
        .route("/api-keys/{id}", delete(http::api_v1::revoke_key))
        .route("/tracks/{id}", get(http::tracks_v1::get))
        .route("/tracks/{id}/peaks", get(http::tracks_v1::peaks))
        .route("/tracks/{id}/events", get(http::tracks_v1::events))
        .route("/changes", get(http::changes::feed))
        .route("/calls", get(http::calls::list))
        .route(
            "/tracks/{id}/transcribe",
            post(http::transcripts::transcribe),
        )
        .route(
            "/tracks/{id}/transcript",
            get(http::transcripts::transcript),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            limiter.clone(),
            http::rate::limit,
        ))
        .layer(axum::middleware::from_fn(http::etag::etag));

    // Routes that take large bodies stream them to disk and bound them
    // themselves; everything else keeps the small default limit.
    let uploads = Router::new()
        .route(
            "/api/uploads",
            post(uploads::tus::create).options(uploads::tus::options),
        )
        .route(
            "/api/uploads/{id}",
            axum::routing::head(uploads::tus::head)
                .patch(uploads::tus::patch)
                .delete(uploads::tus::terminate)
                .post(uploads::tus::overridden)
                .options(uploads::tus::options),
        )
        .route(
            "/api/v1/tracks",
            post(uploads::multipart::create).get(http::tracks_v1::list),
        )
        .route(
            "/api/v1/tracks/{id}/artwork",
            axum::routing::put(http::artwork::upload).delete(http::artwork::remove),
        )
        // rdio-scanner's routes answer every method (405 in its words).
        .route(
            "/api/call-upload",
            axum::routing::any(uploads::calls::call_upload),
        )
        .route(
            "/api/trunk-recorder-call-upload",
            axum::routing::any(uploads::calls::trunk_recorder_call_upload),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            limiter,
            http::rate::limit,
        ))
        // The listing sets its own ETag (cached with its encoded page); tus
        // answers are not JSON.
        .layer(axum::extract::DefaultBodyLimit::disable());

    // Media bytes behind signed links: never compressed, never buffered,
    // and never run as a page (every answer, errors included, is sandboxed).
    let media = Router::new()
        .route("/media/{asset_id}/{mode}/{name}", get(http::media::asset))
        .route(
            "/media/stems/{version_id}/{name}",
            get(http::media::stems_zip),
        )
        .route("/art/{token}/{file}", get(http::artwork::thumbnail))
        .layer(SetResponseHeaderLayer::overriding(
            ::http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(http::security::MEDIA_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            ::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));

    // The admin API: each handler takes `AdminUser` (401 anonymous, 403 users).
    let admin = Router::new()
        .route("/performance", get(http::admin::performance))
        .route("/events", get(http::admin::events))
        .route(
            "/refresh-storage/{user_id}",
            post(http::admin::refresh_storage),
        )
        .route("/jobs", get(http::admin::jobs).post(http::admin::enqueue))
        .route(
            "/jobs/{id}",
            get(http::admin::job).delete(http::admin::discard),
        )
        .route("/jobs/{id}/retry", post(http::admin::retry))
        .route("/jobs/{id}/cancel", post(http::admin::cancel))
        .route("/queues/{kind}/pause", post(http::admin::pause))
        .route("/queues/{kind}/resume", post(http::admin::resume))
        .route("/import", post(http::imports::start))
        .route("/imports", get(http::imports::list));

    let instrumentation = state.settings.instrumentation;
    let body_limits = http::body_guard::BodyLimits {
        idle: state.settings.body_idle,
        min_rate: state.settings.body_min_rate,
    };
    let app = Router::new()
        .route("/healthz", get(http::health::healthz))
        .route("/metrics", get(http::metrics::prometheus))
        .route("/api/queue-status", get(http::admin::queue_status))
        .nest("/api/admin", admin)
        .route("/readyz", get(http::health::readyz))
        .nest("/api/v1", api_v1)
        .route("/api/{*fn_name}", post(server_fn_handler))
        .leptos_routes_with_context(&state, routes, render_context(&state), move || {
            shell(options.clone())
        })
        .fallback(fallback)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .merge(uploads)
        .merge(media)
        .layer(ValidateRequestHeaderLayer::custom(
            http::csrf::RefuseCrossSite::new(&state.settings.public_url),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            ::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            ::http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            ::http::header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Pages set their own policy (with the render's nonce); anything
        // else may load nothing and be framed by nobody.
        .layer(SetResponseHeaderLayer::if_not_present(
            ::http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(http::security::DEFAULT_CSP),
        ))
        // Fastest levels: on small dynamic answers the default brotli and
        // gzip levels cost more CPU than the whole request (bench/RESULTS.md).
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new("audio/"))
                        .and(NotForContentType::const_new("application/zip")),
                ),
        )
        .layer(TraceLayer::new_for_http());
    let app = http::security::with_hsts(app, &state);
    let app = app
        // A database that stops answering answers 503 at once.
        .layer(axum::middleware::from_fn_with_state(
            state.app.clone(),
            http::db_guard::guard,
        ))
        // Every body that may carry bytes is read through the slow-sender
        // and greedy-reader guard.
        .layer(http::body_guard::GuardBodies(body_limits));
    // Outermost, so the time includes every other layer.
    let app = if instrumentation {
        app.layer(http::metrics::TrackLayer)
    } else {
        app
    };
    app.with_state(state)
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    leptos_axum::handle_server_fns_with_context(move || provide_context(state.clone()), req).await
}

/// What every page render gets in its context: the state, and the split
/// manifest (read once per process) so the page preloads its wasm chunk.
fn render_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    static SPLIT: std::sync::OnceLock<Option<leptos::WasmSplitManifest>> =
        std::sync::OnceLock::new();
    let split = SPLIT.get_or_init(assets::split_manifest).clone();
    let state = state.clone();
    move || {
        provide_context(state.clone());
        if let Some(split) = &split {
            provide_context(split.clone());
        }
        http::security::page_policy();
    }
}

/// Embedded site files first; anything else renders the app's 404 page.
async fn fallback(State(state): State<AppState>, req: Request<Body>) -> Response {
    if let Some(res) = assets::response(req.method(), req.uri().path(), req.headers()) {
        return res;
    }
    let options = state.leptos_options.clone();
    let render =
        leptos_axum::render_app_to_stream_with_context(render_context(&state), move || {
            shell(options.clone())
        });
    render(req).await.into_response()
}

/// Writes this process's row in `instances` every 5 s (for /admin).
async fn instance_heartbeat(db: app::db::Db, me: app::admin::InstanceRow, worker: String) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = app::admin::db::instance_heartbeat(&db, &me, &worker).await {
            tracing::debug!(error = %e, "could not write this instance's heartbeat");
        }
    }
}

/// Serves on `listener` and runs the job workers until `shutdown` resolves;
/// in-flight requests finish and running jobs finish or are released. The
/// database pool stays open: closing it is the caller's decision.
pub async fn serve(
    state: ServerState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let jobs = worker::all_jobs(&state.settings);
    serve_with_jobs(state, listener, shutdown, jobs).await
}

/// `serve` with the given job kinds (the crash soak adds one of its own).
pub async fn serve_with_jobs(
    state: ServerState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    kinds: Vec<std::sync::Arc<dyn worker::Job>>,
) -> std::io::Result<()> {
    let (stop_worker, stop_rx) = tokio::sync::watch::channel(false);
    let jobs = worker::Worker::new(
        state.clone(),
        worker::WorkerSettings::for_lease(state.settings.job_lease),
        state.queue.wake(),
        kinds,
    );
    let me = app::admin::InstanceRow {
        id: state.instance_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        addr: listener.local_addr()?.to_string(),
        started_at_ms: app::db::now_ms(),
        ..Default::default()
    };
    let heartbeat = tokio::spawn(instance_heartbeat(
        state.db.clone(),
        me,
        jobs.owner().to_string(),
    ));
    let worker_task = tokio::spawn(jobs.run(stop_rx));
    let pg_listen = tokio::spawn(worker::listen_for_enqueues(state.app.clone()));
    let scheduler = tokio::spawn(worker::schedule(state.queue.clone()));
    let probe = tokio::spawn(app::db::breaker::watch(state.db.clone()));
    let collector = tokio::spawn(telemetry::collect(state.app.clone()));
    let options = listen::ListenOptions {
        header_timeout: state.settings.header_timeout,
        drain_timeout: state.settings.drain_timeout,
    };
    let app_state = state.app.clone();
    let (app_db, instance_id) = (state.db.clone(), state.instance_id.clone());
    let shutdown = async move {
        shutdown.await;
        app_state.begin_stop();
    };
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "wavekeep listening");
    listen::run(listener, app, options, shutdown).await?;
    scheduler.abort();
    collector.abort();
    probe.abort();
    pg_listen.abort();
    heartbeat.abort();
    let _ = stop_worker.send(true);
    let _ = worker_task.await;
    if let Err(e) = app::admin::db::instance_gone(&app_db, &instance_id).await {
        tracing::warn!(error = %e, "could not remove this instance's row");
    }
    tracing::info!("wavekeep stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
