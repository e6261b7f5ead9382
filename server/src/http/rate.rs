//! Per-API-key rate limit for the machine API and uploads: a token bucket
//! per key; past it, 429 with `Retry-After`. Requests without a bearer key
//! (browser sessions) are not limited here.
//!
//! On PostgreSQL, where several instances may serve one deployment, the
//! buckets live in the database (`app::auth::throttle::take_token`, one
//! atomic upsert a request), so a key gets its rate once, not once per
//! instance. On SQLite (one process) they live in memory (governor).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::Request;
use sha2::{Digest, Sha256};

use app::db::{Backend, Db};
use app::errors::AppError;

#[derive(Clone)]
pub enum KeyLimiter {
    Memory(Arc<DefaultKeyedRateLimiter<[u8; 16]>>),
    Shared {
        db: Db,
        interval: Duration,
        burst: u32,
    },
}

impl KeyLimiter {
    pub fn new(db: &Db, per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        if db.backend() == Backend::Postgres {
            return KeyLimiter::Shared {
                db: db.clone(),
                interval: Duration::from_secs(60) / per_minute.get(),
                burst: burst.get(),
            };
        }
        KeyLimiter::Memory(Arc::new(RateLimiter::keyed(
            Quota::per_minute(per_minute).allow_burst(burst),
        )))
    }

    /// Takes one request from `key`'s bucket, or says how long to wait (s).
    async fn take(&self, key: &[u8; 16]) -> Result<Option<u64>, AppError> {
        match self {
            KeyLimiter::Memory(limiter) => {
                let verdict = limiter.check_key(key);
                if limiter.len() > 100_000 {
                    limiter.retain_recent();
                }
                Ok(verdict.err().map(|not_until| {
                    not_until
                        .wait_time_from(DefaultClock::default().now())
                        .as_secs()
                        .max(1)
                }))
            }
            KeyLimiter::Shared {
                db,
                interval,
                burst,
            } => {
                let key = format!("api-key:{}", hex::encode(key));
                app::auth::throttle::take_token(db, &key, *interval, *burst).await
            }
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

/// The middleware: 429 with `Retry-After` past the key's rate.
pub async fn limit(State(limiter): State<KeyLimiter>, req: Request<Body>, next: Next) -> Response {
    if let Some(key) = key_of(&req) {
        match limiter.take(&key).await {
            Ok(None) => {}
            Ok(Some(wait)) => {
                return AppError::TooManyRequests {
                    retry_after_secs: wait.max(1),
                }
                .into_response()
            }
            Err(e) => return e.into_response(),
        }
    }
    next.run(req).await
}
