//! Per-API-key rate limit for the machine API and uploads: a token bucket per
//! key (governor); past it, 429 with `Retry-After`. Requests without a
//! bearer key (browser sessions) are not limited here.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::Request;
use sha2::{Digest, Sha256};
use tower_http::validate_request::ValidateRequest;

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
fn key_of<B>(req: &Request<B>) -> Option<[u8; 16]> {
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

/// The check, for `ValidateRequestHeaderLayer::custom` (synchronous: no
/// future or service clone per request).
impl<B> ValidateRequest<B> for KeyLimiter {
    type ResponseBody = Body;

    fn validate(&mut self, req: &mut Request<B>) -> Result<(), Response> {
        let Some(key) = key_of(req) else {
            return Ok(());
        };
        if let Err(not_until) = self.limiter.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(AppError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response());
        }
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        Ok(())
    }
}
