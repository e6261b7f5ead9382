//! Credentials on the wire: session cookies and bearer API keys, and the
//! cache of resolved sessions. API keys are looked up on every request, so
//! a revoked key is refused at once by every process on the database.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;
use moka::future::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{db, Viewer};
use crate::errors::AppError;
use crate::settings::Settings;

/// The session cookie over plain http (a local install).
pub const SESSION_COOKIE: &str = "wk_session";
/// … and over https: the `__Host-` prefix makes browsers accept it only when
/// set `Secure`, for `/`, by this very host (no subdomain or http page can
/// plant or overwrite it).
pub const SECURE_SESSION_COOKIE: &str = "__Host-wk_session";
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
    let name = if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    cookie::Cookie::build((name, token.to_string()))
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

/// The client address used for throttling and download history. Behind a
/// trusted proxy it is the rightmost `X-Forwarded-For` entry: the address
/// the proxy itself saw (entries to its left were written by the client and
/// prove nothing).
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &http::Extensions,
    settings: &Settings,
) -> String {
    if settings.trust_proxy {
        let rightmost = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(ip) = rightmost.and_then(|v| v.parse::<std::net::IpAddr>().ok()) {
            return ip.to_string();
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The session token of a request: the `__Host-` cookie, or, on a request
/// that did not come over https, the plain one.
pub fn session_token(headers: &HeaderMap, settings: &Settings) -> Option<String> {
    let https = is_https(headers, settings);
    let cookies: Vec<cookie::Cookie<'_>> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| !c.value().is_empty())
        .collect();
    let named = |name: &str| {
        cookies
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_string())
    };
    named(SECURE_SESSION_COOKIE).or_else(|| if https { None } else { named(SESSION_COOKIE) })
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

/// Resolves the credential on a request, if any. A present but wrong (or
/// revoked) bearer key is an error (401) rather than silently anonymous.
pub async fn resolve(
    state: &crate::state::AppState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, AppError> {
    let (db, cache) = (&state.db, &state.viewers);
    if let Some(key) = bearer_token(headers) {
        // Never cached: a revocation holds at once, in every process.
        let hash = hash_token(key);
        let Some((viewer, key_id, last_used)) = db::viewer_by_api_key(db, &hash).await? else {
            return Err(AppError::Unauthorized);
        };
        if last_used.is_none_or(|t| crate::db::now_ms() - t >= KEY_TOUCH_MS) {
            // Bookkeeping: a busy database must not fail the request.
            if let Err(e) = db::touch_api_key(db, key_id).await {
                tracing::warn!(key_id, error = %e, "could not record an API key's use");
            }
        }
        cache.seen(viewer.id).await;
        return Ok(Some(viewer));
    }
    let Some(token) = session_token(headers, &state.settings) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    // Not while this process may miss another's logout (`TrackCaches::set_deaf`).
    if state.caches.trusted() {
        if let Some(v) = cache.get(&hash).await {
            cache.seen(v.id).await;
            return Ok(Some(v));
        }
    }
    let viewer = db::viewer_by_session(db, &hash).await?;
    if let Some(v) = &viewer {
        cache.seen(v.id).await;
        cache.insert(hash, v.clone()).await;
    }
    Ok(viewer)
}

/// An API key's "last used" time is written at most this often.
const KEY_TOUCH_MS: i64 = 60_000;

const ACTIVE_WINDOW: Duration = Duration::from_secs(300);

/// Resolved sessions by credential hash, so a request costs no query for
/// 30 s. Logout and role changes invalidate their entries.
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

    /// Drops every cached credential (after this process could not hear
    /// the others for a while).
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_flags() {
        let c = session_cookie("abc", Duration::from_secs(60), false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        let c = session_cookie("abc", Duration::from_secs(60), true);
        assert!(c.contains("Secure"), "{c}");
        assert!(c.starts_with("__Host-wk_session=abc"), "{c}");
        assert!(c.contains("Path=/") && !c.contains("Domain"), "{c}");
    }

    #[test]
    fn the_proxy_seen_address_is_the_rightmost() {
        let settings = Settings {
            trust_proxy: true,
            ..Settings::default()
        };
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "6.6.6.6, 10.1.1.1".parse().expect("hv"));
        h.append("x-forwarded-for", "203.0.113.7".parse().expect("hv"));
        let ext = http::Extensions::new();
        assert_eq!(client_ip(&h, &ext, &settings), "203.0.113.7");
        let untrusted = Settings::default();
        assert_eq!(client_ip(&h, &ext, &untrusted), "unknown");
    }

    #[test]
    fn https_requests_take_only_the_host_cookie() {
        let https = Settings {
            public_url: "https://wk.example".into(),
            ..Settings::default()
        };
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "wk_session=planted".parse().expect("hv"));
        assert_eq!(session_token(&h, &https), None);
        assert_eq!(
            session_token(&h, &Settings::default()).as_deref(),
            Some("planted")
        );
        h.insert(
            COOKIE,
            "wk_session=planted; __Host-wk_session=real"
                .parse()
                .expect("hv"),
        );
        assert_eq!(session_token(&h, &https).as_deref(), Some("real"));
    }
}
