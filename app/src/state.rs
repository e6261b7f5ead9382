//! The one shared application state handed to routes and server functions.
//!
//! `AppState` is a handle: every request clones it (the `State` extractor,
//! each guard), so a clone is one reference count, not a copy of every pool
//! and cache handle inside (that was a fifth of the CPU of a cached listing).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::auth::session::ViewerCache;
use crate::db::Db;
use crate::files::FileStore;
use crate::jobs::queue::Queue;
use crate::settings::Settings;
use crate::signing::Secrets;
use crate::tracks::cache::TrackCaches;
use crate::usage::UsageCache;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What an `AppState` handle shares (reached through `Deref`: `state.db`).
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub settings: Arc<Settings>,
    pub viewers: ViewerCache,
    pub queue: Queue,
    pub usage: UsageCache,
    pub caches: TrackCaches,
    /// URL signing key and IP salt.
    pub secrets: Secrets,
    /// Stored files, as the app reads them (the server's storage).
    pub files: Arc<dyn FileStore>,
    /// This process among the deployment's (`instances` table, /admin).
    pub instance_id: String,
    /// Set once the server begins to stop: responses that never end by
    /// themselves (event streams) end then, so the drain is not spent
    /// waiting for them.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(
        leptos_options: LeptosOptions,
        db: Db,
        settings: Settings,
        secrets: Secrets,
        files: Arc<dyn FileStore>,
    ) -> Self {
        // The recorder goes in before anything takes a metrics handle.
        let _ = crate::telemetry::global();
        AppState(Arc::new(Shared {
            viewers: ViewerCache::new(),
            queue: Queue::new(db.clone(), settings.queue_max_depth),
            usage: UsageCache::new(),
            caches: TrackCaches::new(&db),
            secrets,
            files,
            instance_id: crate::auth::session::new_token()[..12].to_lowercase(),
            leptos_options,
            db,
            settings: Arc::new(settings),
            stopping: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// The server is stopping: open event streams end.
    pub fn begin_stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once the server begins to stop.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// leptos_axum's routes take their options from the router's state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
