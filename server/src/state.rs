//! The server's state: the app's state (database, caches, settings, what
//! server functions see) plus what only the server holds, the storage
//! backend. Handlers take either part with `State<…>`; the app's state is
//! also reached through `Deref` (`state.db`).

use std::ops::Deref;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use app::state::AppState;

use crate::storage::Storage;

#[derive(Clone)]
pub struct ServerState {
    pub app: AppState,
    pub storage: Storage,
}

impl Deref for ServerState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl FromRef<ServerState> for AppState {
    fn from_ref(s: &ServerState) -> AppState {
        s.app.clone()
    }
}

impl FromRef<ServerState> for Storage {
    fn from_ref(s: &ServerState) -> Storage {
        s.storage.clone()
    }
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(s: &ServerState) -> LeptosOptions {
        s.app.leptos_options.clone()
    }
}
