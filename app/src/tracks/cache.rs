//! The catalog's caches: listing pages (30 s) and track pages (5 min), each a
//! named moka cache with counters. Every write that changes what they show
//! (an upload finished, a job done, an edit, a delete, a visibility change)
//! calls `changed`, which drops the track's entry and every listing page, so
//! nobody sees stale data after their own change.

use std::sync::Arc;
use std::time::Duration;

use super::{ListQuery, TrackDetail, TrackPage};
use crate::cache::{CacheStats, NamedCache};
use crate::db::{Backend, Db};

/// (owner for "my tracks", the listing's query).
pub type ListKey = (Option<i64>, ListQuery);

/// PostgreSQL channel on which processes tell each other what changed.
pub const CHANGED_CHANNEL: &str = "wavekeep_catalog";

/// A listing page as the JSON API sends it: encoded once, with its gzip
/// form and ETag, for as long as `page` is the cached page of its key.
pub struct EncodedPage {
    pub page: Arc<TrackPage>,
    pub json: axum::body::Bytes,
    pub gzip: axum::body::Bytes,
    /// A hash of `json` (the gzip form's tag adds `-gz`).
    pub etag: String,
}

#[derive(Clone)]
pub struct TrackCaches {
    pub lists: NamedCache<ListKey, Arc<TrackPage>>,
    /// The JSON API's encoding of `lists` pages.
    pub list_json: NamedCache<ListKey, Arc<EncodedPage>>,
    pub tracks: NamedCache<i64, Arc<TrackDetail>>,
    /// Waveform overviews by asset (they never change once computed).
    pub peaks: NamedCache<i64, Arc<Vec<i8>>>,
    /// On PostgreSQL, where other processes hear about changes.
    peers: Option<Db>,
}

impl TrackCaches {
    pub fn new(db: &Db) -> Self {
        TrackCaches {
            lists: NamedCache::new("track_lists", 20_000, Duration::from_secs(30)),
            list_json: NamedCache::new("track_list_json", 5_000, Duration::from_secs(30)),
            tracks: NamedCache::new("track_pages", 20_000, Duration::from_secs(300)),
            peaks: NamedCache::new("waveform_peaks", 5_000, Duration::from_secs(3600)),
            peers: (db.backend() == Backend::Postgres).then(|| db.clone()),
        }
    }

    /// Track `id` changed (or `None`: some track did). Other wavekeep
    /// processes on the same PostgreSQL database drop theirs too.
    pub async fn changed(&self, id: Option<i64>) {
        self.forget(id).await;
        if let Some(db) = self.peers.clone() {
            let payload = id.map(|i| i.to_string()).unwrap_or_default();
            tokio::spawn(async move {
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANGED_CHANNEL)
                    .bind(payload)
                    .execute(db.pool())
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not tell other processes about a change");
                }
            });
        }
    }

    /// Drops what this process holds about track `id`, and every listing page.
    pub async fn forget(&self, id: Option<i64>) {
        if let Some(id) = id {
            self.tracks.invalidate(&id).await;
        }
        self.lists.invalidate_all();
        self.list_json.invalidate_all();
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        vec![
            self.lists.stats(),
            self.list_json.stats(),
            self.tracks.stats(),
            self.peaks.stats(),
        ]
    }
}
