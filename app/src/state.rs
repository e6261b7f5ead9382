//! The one shared application state handed to routes and server functions.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::auth::session::{LoginThrottle, ViewerCache};
use crate::db::Db;
use crate::jobs::queue::Queue;
use crate::settings::Settings;
use crate::signing::Secrets;
use crate::tracks::cache::TrackCaches;
use crate::usage::UsageCache;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub settings: Arc<Settings>,
    pub viewers: ViewerCache,
    pub login_throttle: LoginThrottle,
    pub queue: Queue,
    pub usage: UsageCache,
    pub caches: TrackCaches,
    /// URL signing key and IP salt (`Secrets::load` replaces the ephemeral ones).
    pub secrets: Secrets,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, db: Db, settings: Settings) -> Self {
        // The recorder goes in before anything takes a metrics handle.
        let _ = crate::telemetry::global();
        AppState {
            viewers: ViewerCache::new(),
            login_throttle: LoginThrottle::new(settings.login_max_failures, settings.login_window),
            queue: Queue::new(db.clone(), settings.queue_max_depth),
            usage: UsageCache::new(),
            caches: TrackCaches::new(&db),
            secrets: Secrets::ephemeral(),
            leptos_options,
            db,
            settings: Arc::new(settings),
        }
    }
}
