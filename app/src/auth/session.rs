//! Credentials on the wire: session cookies and bearer API keys, the cache of
//! resolved viewers, and the login throttle.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;
use moka::future::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{db, Viewer};
use crate::db::Db;
use crate::errors::AppError;
use crate::settings::Settings;

pub const SESSION_COOKIE: &str = "wk_session";
pub const API_KEY_PREFIX: &str = "wk_";

/// 32 random bytes, hex encoded: a session token or the body of an API key.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores for a token: a leaked table reveals no credential.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    cookie::Cookie::build((SESSION_COOKIE, token.to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
        .secure(secure)
        .build()
        .to_string()
}

pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", Duration::ZERO, secure)
}

/// Whether this request reached us over https (directly or via a trusted proxy).
pub fn is_https(headers: &HeaderMap, settings: &Settings) -> bool {
    settings.secure_cookies()
        || (settings.trust_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")))
}

/// The client address used for throttling and download history.
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &http::Extensions,
    settings: &Settings,
) -> String {
    if settings.trust_proxy {
        if let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        {
            return first.trim().to_string();
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// The `Authorization: Bearer` credential, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Resolves the credential on a request, if any. A present but wrong bearer
/// key is an error (401) rather than silently anonymous.
pub async fn resolve(
    db: &Db,
    cache: &ViewerCache,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, AppError> {
    if let Some(key) = bearer_token(headers) {
        let hash = hash_token(key);
        if let Some(v) = cache.get(&hash).await {
            cache.seen(v.id).await;
            return Ok(Some(v));
        }
        let Some((viewer, key_id)) = db::viewer_by_api_key(db, &hash).await? else {
            return Err(AppError::Unauthorized);
        };
        db::touch_api_key(db, key_id).await?;
        cache.seen(viewer.id).await;
        cache.insert(hash, viewer.clone()).await;
        return Ok(Some(viewer));
    }
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    if let Some(v) = cache.get(&hash).await {
        cache.seen(v.id).await;
        return Ok(Some(v));
    }
    let viewer = db::viewer_by_session(db, &hash).await?;
    if let Some(v) = &viewer {
        cache.seen(v.id).await;
        cache.insert(hash, v.clone()).await;
    }
    Ok(viewer)
}

const ACTIVE_WINDOW: Duration = Duration::from_secs(300);

/// Resolved viewers by credential hash, so a request costs no query for 30 s.
/// Logout, key revocation and role changes invalidate their entries.
#[derive(Clone)]
pub struct ViewerCache {
    inner: Cache<String, Viewer>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
    /// Users who made a signed-in request in the last 5 minutes.
    active: Cache<i64, ()>,
}

impl Default for ViewerCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ViewerCache {
    pub fn new() -> Self {
        ViewerCache {
            inner: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .support_invalidation_closures()
                .build(),
            hits: Arc::default(),
            misses: Arc::default(),
            active: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(ACTIVE_WINDOW)
                .build(),
        }
    }

    /// Notes that `user_id` made a request (reading refreshes the idle timer).
    async fn seen(&self, user_id: i64) {
        if self.active.get(&user_id).await.is_none() {
            self.active.insert(user_id, ()).await;
        }
    }

    /// Distinct users seen in the last 5 minutes.
    pub async fn active_users(&self) -> u64 {
        self.active.run_pending_tasks().await;
        self.active.entry_count()
    }

    pub fn stats(&self) -> crate::cache::CacheStats {
        crate::cache::CacheStats {
            name: "viewers".into(),
            hits: self.hits(),
            misses: self.misses(),
            evictions: 0,
            entries: self.inner.entry_count(),
        }
    }

    pub async fn get(&self, credential_hash: &str) -> Option<Viewer> {
        let found = self.inner.get(credential_hash).await;
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub async fn insert(&self, credential_hash: String, viewer: Viewer) {
        self.inner.insert(credential_hash, viewer).await;
    }

    pub async fn invalidate(&self, credential_hash: &str) {
        self.inner.invalidate(credential_hash).await;
    }

    /// Drops every cached credential of one user (after a role change).
    pub fn invalidate_user(&self, user_id: i64) {
        if let Err(e) = self
            .inner
            .invalidate_entries_if(move |_, v| v.id == user_id)
        {
            // Cannot happen: the cache is built with invalidation closures.
            tracing::error!(error = %e, "viewer cache invalidation failed");
            self.inner.invalidate_all();
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// Failed logins counted per key (`acct:<email>`, `ip:<addr>`) in a window
/// that starts at the first failure; at `max` failures the key answers 429
/// until the window ends.
#[derive(Clone)]
pub struct LoginThrottle {
    windows: Cache<String, Arc<FailureWindow>>,
    max: u32,
    window: Duration,
}

struct FailureWindow {
    started: Instant,
    failures: AtomicU32,
}

impl LoginThrottle {
    pub fn new(max: u32, window: Duration) -> Self {
        LoginThrottle {
            windows: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(window)
                .build(),
            max: max.max(1),
            window,
        }
    }

    /// `Err(TooManyRequests)` when any of `keys` is over its limit.
    pub async fn check(&self, keys: &[String]) -> Result<(), AppError> {
        for key in keys {
            if let Some(w) = self.windows.get(key).await {
                let elapsed = w.started.elapsed();
                if w.failures.load(Ordering::Relaxed) >= self.max && elapsed < self.window {
                    let left = self.window.saturating_sub(elapsed);
                    let retry_after_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    return Err(AppError::TooManyRequests {
                        retry_after_secs: retry_after_secs.max(1),
                    });
                }
            }
        }
        Ok(())
    }

    pub async fn record_failure(&self, keys: &[String]) {
        for key in keys {
            let w = self
                .windows
                .get_with(key.clone(), async {
                    Arc::new(FailureWindow {
                        started: Instant::now(),
                        failures: AtomicU32::new(0),
                    })
                })
                .await;
            w.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub async fn clear(&self, key: &str) {
        self.windows.invalidate(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_flags() {
        let c = session_cookie("abc", Duration::from_secs(60), false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        let c = session_cookie("abc", Duration::from_secs(60), true);
        assert!(c.contains("Secure"), "{c}");
    }

    #[tokio::test]
    async fn throttle_counts_per_key() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let a = vec!["acct:a".to_string()];
        for _ in 0..3 {
            assert!(t.check(&a).await.is_ok());
            t.record_failure(&a).await;
        }
        match t.check(&a).await {
            Err(AppError::TooManyRequests { retry_after_secs }) => {
                assert!((1..=60).contains(&retry_after_secs))
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(t.check(&["acct:b".to_string()]).await.is_ok());
    }
}
