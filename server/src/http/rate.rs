//! Per-API-key rate limit for the machine API and uploads: a token bucket per
//! key (governor); past it, 429 with `Retry-After`. Requests without a
//! bearer key (browser sessions) are not limited here.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use app::errors::AppError;

#[derive(Clone)]
pub struct KeyLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
}

impl KeyLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        KeyLimiter {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            )),
        }
    }
}

/// The bearer credential, hashed (the limiter never holds a key).
fn key_of(req: &Request<Body>) -> Option<[u8; 16]> {
    let value = req
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    let digest = Sha256::digest(token.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&digest[..16]);
    Some(k)
}

pub async fn limit(State(l): State<KeyLimiter>, req: Request<Body>, next: Next) -> Response {
    if let Some(key) = key_of(&req) {
        if let Err(not_until) = l.limiter.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return AppError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response();
        }
        if l.limiter.len() > 100_000 {
            l.limiter.retain_recent();
        }
    }
    next.run(req).await
}
