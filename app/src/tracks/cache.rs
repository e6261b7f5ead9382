//! The catalog's caches: listing pages (30 s) and track pages (5 min), each a
//! named moka cache with counters. Every write that changes what they show
//! (an upload finished, a job done, an edit, a delete, a visibility change)
//! calls `changed`, which drops the track's entry and every listing page, so
//! nobody sees stale data after their own change. A transcript changing
//! (started, finished, corrected) calls `spoken_changed`: it shows on the
//! track's page and in search results only, so the plain listing pages stay.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{ListQuery, TrackDetail, TrackPage};
use crate::cache::{CacheStats, NamedCache};
use crate::db::{Backend, Db};

/// (owner for "my tracks", the listing's query).
pub type ListKey = (Option<i64>, ListQuery);

/// PostgreSQL channel on which processes tell each other what changed.
pub const CHANGED_CHANNEL: &str = "wavekeep_catalog";
/// Prefix of a `CHANGED_CHANNEL` payload saying a track's transcript changed.
const SPOKEN: &str = "spoken:";
/// Prefixes of payloads about signed-in people (`auth::session::ViewerCache`):
/// a session that ended (its credential hash), a user whose role changed.
pub const VIEWER: &str = "viewer:";
pub const USER: &str = "user:";

/// A listing page as the JSON API sends it: encoded once, with its gzip
/// form and ETag, for as long as no change came after `epoch`.
pub struct EncodedPage {
    /// `TrackCaches::epoch` before the page was looked up.
    pub epoch: u64,
    pub json: axum::body::Bytes,
    pub gzip: axum::body::Bytes,
    /// A hash of `json` (the gzip form's tag adds `-gz`).
    pub etag: String,
}

#[derive(Clone)]
pub struct TrackCaches {
    /// Listing pages without search words.
    pub lists: NamedCache<ListKey, Arc<TrackPage>>,
    /// The JSON API's encoding of `lists` pages.
    pub list_json: NamedCache<ListKey, Arc<EncodedPage>>,
    /// Search results (they show transcript hits).
    pub searches: NamedCache<ListKey, Arc<TrackPage>>,
    /// The JSON API's encoding of `searches` pages.
    pub search_json: NamedCache<ListKey, Arc<EncodedPage>>,
    pub tracks: NamedCache<i64, Arc<TrackDetail>>,
    /// Waveform overviews by asset (they never change once computed).
    pub peaks: NamedCache<i64, Arc<Vec<i8>>>,
    /// Artwork tokens of finished images, by token: the content hash a
    /// token names never changes (an image removed later reads as missing).
    pub art: NamedCache<String, Arc<str>>,
    /// On PostgreSQL, where other processes hear about changes.
    peers: Option<Db>,
    /// Moved on before and after every `forget`. A reader that sees the
    /// same value before its query and after its insert knows that no
    /// change overlapped them (see `insert_fresh`).
    epoch: Arc<AtomicU64>,
    /// The same for transcript changes (`forget_spoken`).
    spoken: Arc<AtomicU64>,
    /// This process may be missing other processes' changes (its LISTEN
    /// connection is down): nothing read meanwhile is kept (`set_deaf`).
    deaf: Arc<AtomicBool>,
    /// Woken on every change made here or heard of: the change feed's
    /// streams (`crate::changes`) look for new rows then.
    feed: Arc<tokio::sync::Notify>,
}

impl TrackCaches {
    pub fn new(db: &Db) -> Self {
        TrackCaches {
            lists: NamedCache::new("track_lists", 20_000, Duration::from_secs(30)),
            list_json: NamedCache::new("track_list_json", 5_000, Duration::from_secs(30)),
            searches: NamedCache::new("track_searches", 20_000, Duration::from_secs(30)),
            search_json: NamedCache::new("track_search_json", 5_000, Duration::from_secs(30)),
            tracks: NamedCache::new("track_pages", 20_000, Duration::from_secs(300)),
            peaks: NamedCache::new("waveform_peaks", 5_000, Duration::from_secs(3600)),
            art: NamedCache::new("artwork_tokens", 10_000, Duration::from_secs(3600)),
            peers: (db.backend() == Backend::Postgres).then(|| db.clone()),
            epoch: Arc::new(AtomicU64::new(0)),
            spoken: Arc::new(AtomicU64::new(0)),
            deaf: Arc::new(AtomicBool::new(false)),
            feed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Whether this process hears other processes' changes. While it does
    /// not (its LISTEN connection lost), what is cached is not served as
    /// long as the database answers (a fresh read is possible and another
    /// process may have changed it), and every read moves the counters on so
    /// nothing read meanwhile is kept (`insert_fresh` drops it at once). When
    /// the database does not answer either (the breaker is open), cached
    /// pages are still served: stale beats nothing. Hearing again drops
    /// everything cached before.
    pub async fn set_deaf(&self, deaf: bool) {
        self.deaf.store(deaf, Ordering::SeqCst);
        if !deaf {
            self.forget(None).await;
            self.spoken.fetch_add(1, Ordering::SeqCst);
            self.tracks.invalidate_all();
        }
    }

    pub fn is_deaf(&self) -> bool {
        self.deaf.load(Ordering::SeqCst)
    }

    /// Whether cached entries may be served now (see `set_deaf`).
    pub fn trusted(&self) -> bool {
        !self.is_deaf() || self.peers.as_ref().is_some_and(|db| db.breaker().is_open())
    }

    /// A counter's value; moved on by each read while deaf.
    fn read(&self, counter: &AtomicU64) -> u64 {
        if self.deaf.load(Ordering::SeqCst) {
            counter.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            counter.load(Ordering::SeqCst)
        }
    }

    /// Track `id` changed (or `None`: some track did). Other wavekeep
    /// processes on the same PostgreSQL database drop theirs too.
    pub async fn changed(&self, id: Option<i64>) {
        self.forget(id).await;
        self.feed.notify_waiters();
        self.tell_later(id.map(|i| i.to_string()).unwrap_or_default());
    }

    /// What the change feed's streams wait on (`changed`, `heard`).
    pub fn feed(&self) -> &tokio::sync::Notify {
        &self.feed
    }

    /// Track `id`'s transcript changed: its page and the search results
    /// go, here and (PostgreSQL) in the other processes.
    pub async fn spoken_changed(&self, id: i64) {
        self.forget_spoken(id).await;
        self.tell_later(format!("{SPOKEN}{id}"));
    }

    /// Tells the other processes (PostgreSQL) `payload` without waiting.
    fn tell_later(&self, payload: String) {
        let this = self.clone();
        tokio::spawn(async move { this.tell_peers(&payload).await });
    }

    /// Tells the other processes on this PostgreSQL database `payload` on
    /// `CHANGED_CHANNEL` (ids only: NOTIFY carries at most 8,000 bytes);
    /// nothing on SQLite (one process).
    pub async fn tell_peers(&self, payload: &str) {
        let Some(db) = &self.peers else { return };
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGED_CHANNEL)
            .bind(payload)
            .execute(db.pool())
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not tell other processes about a change");
        }
    }

    /// Acts on a change another process announced (`changed` or
    /// `spoken_changed`).
    pub async fn heard(&self, payload: &str) {
        match payload.strip_prefix(SPOKEN) {
            Some(id) => match id.parse::<i64>() {
                Ok(id) => self.forget_spoken(id).await,
                Err(_) => self.forget(None).await,
            },
            None => {
                self.forget(payload.parse::<i64>().ok()).await;
                self.feed.notify_waiters();
            }
        }
    }

    /// Drops what this process holds about track `id`, and every listing page.
    pub async fn forget(&self, id: Option<i64>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = id {
            self.tracks.invalidate(&id).await;
        }
        self.lists.invalidate_all();
        self.list_json.invalidate_all();
        self.searches.invalidate_all();
        self.search_json.invalidate_all();
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops track `id`'s page and every search page.
    pub async fn forget_spoken(&self, id: i64) {
        self.spoken.fetch_add(1, Ordering::SeqCst);
        self.tracks.invalidate(&id).await;
        self.searches.invalidate_all();
        self.search_json.invalidate_all();
        self.spoken.fetch_add(1, Ordering::SeqCst);
    }

    /// The change counter: read it before a query whose result goes into a
    /// cache, and hand it to `insert_fresh`. It moves with every change.
    pub fn epoch(&self) -> u64 {
        self.read(&self.epoch) + self.read(&self.spoken)
    }

    /// The counter a listing page for `q` depends on: plain pages only on
    /// catalog changes, search pages on transcript changes too.
    pub fn epoch_for(&self, q: &ListQuery) -> u64 {
        if q.q.trim().is_empty() {
            self.read(&self.epoch)
        } else {
            self.epoch()
        }
    }

    /// Where listing pages for `q` are kept.
    pub fn pages_for(&self, q: &ListQuery) -> &NamedCache<ListKey, Arc<TrackPage>> {
        if q.q.trim().is_empty() {
            &self.lists
        } else {
            &self.searches
        }
    }

    /// Where the JSON encodings of listing pages for `q` are kept.
    pub fn json_for(&self, q: &ListQuery) -> &NamedCache<ListKey, Arc<EncodedPage>> {
        if q.q.trim().is_empty() {
            &self.list_json
        } else {
            &self.search_json
        }
    }

    /// `insert_fresh` for a listing page of `key`'s query (its own counter).
    pub async fn insert_page(&self, key: ListKey, value: Arc<TrackPage>, before: u64) {
        let cache = self.pages_for(&key.1);
        cache.insert(key.clone(), value).await;
        if self.epoch_for(&key.1) != before {
            cache.invalidate(&key).await;
        }
    }

    /// Caches `value`, read from the database after `epoch()` returned
    /// `before`. When a change overlapped the read, the entry is dropped
    /// again: an answer read just before a change must not be served for a
    /// whole TTL after it (`forget` may have run between the query and the
    /// insert). A change that starts after the insert drops it itself.
    pub async fn insert_fresh<K, V>(&self, cache: &NamedCache<K, V>, key: K, value: V, before: u64)
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        cache.insert(key.clone(), value).await;
        if self.epoch() != before {
            cache.invalidate(&key).await;
        }
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        vec![
            self.lists.stats(),
            self.list_json.stats(),
            self.searches.stats(),
            self.search_json.stats(),
            self.tracks.stats(),
            self.peaks.stats(),
            self.art.stats(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::{ListQuery, TrackPage};

    #[tokio::test]
    async fn an_answer_read_before_a_change_is_not_kept_after_it() {
        let db = Db::connect("sqlite::memory:", &Default::default())
            .await
            .expect("db");
        let caches = TrackCaches::new(&db);
        let key: ListKey = (None, ListQuery::default());
        let page = || {
            Arc::new(TrackPage {
                items: Vec::new(),
                next: None,
            })
        };

        // Nothing changed between the read and the insert: kept.
        let before = caches.epoch();
        caches
            .insert_fresh(&caches.lists, key.clone(), page(), before)
            .await;
        assert!(caches.lists.get(&key).await.is_some());

        // A change landed after the query but before the insert (its
        // invalidation ran first and could not drop the entry): not kept.
        caches.forget(None).await;
        let before = caches.epoch();
        caches.forget(Some(7)).await;
        caches
            .insert_fresh(&caches.lists, key.clone(), page(), before)
            .await;
        assert!(caches.lists.get(&key).await.is_none());

        // The next read after the change is kept again.
        let before = caches.epoch();
        caches
            .insert_fresh(&caches.lists, key.clone(), page(), before)
            .await;
        assert!(caches.lists.get(&key).await.is_some());
    }
}
