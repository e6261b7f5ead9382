//! Signed, expiring media URLs and the salted hash of client addresses.
//!
//! A media link carries its expiry (unix seconds), optionally the user it was
//! made for (so a download lands in that user's history) and an HMAC-SHA256
//! over the method, the path, the expiry and the user. The check is constant
//! time (`hmac::Mac::verify_slice`). The key and the salt live in the
//! database (`server_secrets`), created on first start, so every wavekeep
//! process on one database signs and checks alike and links survive restarts.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{now_ms, Db};
use crate::errors::AppError;

type HmacSha256 = Hmac<Sha256>;

/// Expiries are rounded up to this step, so a page that shows a link is the
/// same for a few minutes (and caches well).
const ROUND_SECS: i64 = 300;

#[derive(Clone)]
pub struct Secrets {
    signing_key: Arc<[u8; 32]>,
    ip_salt: Arc<[u8; 32]>,
}

/// Why a media link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid")]
    Invalid,
    #[error("this link has expired; open the track page again for a fresh one")]
    Expired,
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    b
}

fn decode32(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

impl Secrets {
    /// Random secrets that live as long as the process (until `load`).
    pub fn ephemeral() -> Self {
        Secrets {
            signing_key: Arc::new(random32()),
            ip_salt: Arc::new(random32()),
        }
    }

    /// The database's secrets, created on first use by whichever process
    /// gets there first.
    pub async fn load(db: &Db) -> Result<Self, AppError> {
        let mut values = Vec::new();
        for name in ["media_signing_key", "download_ip_salt"] {
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(hex::encode(random32()))
            .bind(now_ms())
            .execute(db.pool())
            .await?;
            let value: String =
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(db.pool())
                    .await?;
            values.push(
                decode32(&value)
                    .ok_or_else(|| AppError::internal("loading secrets", "malformed secret"))?,
            );
        }
        Ok(Secrets {
            signing_key: Arc::new(values[0]),
            ip_salt: Arc::new(values[1]),
        })
    }

    fn mac(&self, path: &str, exp: i64, user: Option<i64>) -> HmacSha256 {
        let mut mac = match HmacSha256::new_from_slice(&self.signing_key[..]) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        let user = user.map(|u| u.to_string()).unwrap_or_else(|| "-".into());
        mac.update(format!("GET\n{path}\n{exp}\n{user}").as_bytes());
        mac
    }

    /// `path?exp=…[&u=…]&sig=…`, valid for about `ttl`.
    pub fn sign(&self, path: &str, ttl: Duration, user: Option<i64>) -> String {
        let now = now_ms() / 1000;
        let until = now + ttl.as_secs() as i64;
        let exp = (until + ROUND_SECS - 1) / ROUND_SECS * ROUND_SECS;
        self.sign_until(path, exp, user)
    }

    pub fn sign_until(&self, path: &str, exp: i64, user: Option<i64>) -> String {
        let sig = hex::encode(self.mac(path, exp, user).finalize().into_bytes());
        match user {
            Some(u) => format!("{path}?exp={exp}&u={u}&sig={sig}"),
            None => format!("{path}?exp={exp}&sig={sig}"),
        }
    }

    /// Checks a link for a GET or HEAD of `path`; returns the user it was
    /// made for.
    pub fn verify(&self, path: &str, query: Option<&str>) -> Result<Option<i64>, LinkError> {
        let (mut exp, mut user, mut sig) = (None, None, None);
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = Some(v.parse::<i64>().map_err(|_| LinkError::Invalid)?),
                Some(("u", v)) => user = Some(v.parse::<i64>().map_err(|_| LinkError::Invalid)?),
                Some(("sig", v)) => sig = Some(hex::decode(v).map_err(|_| LinkError::Invalid)?),
                _ => {}
            }
        }
        let (Some(exp), Some(sig)) = (exp, sig) else {
            return Err(LinkError::Invalid);
        };
        self.mac(path, exp, user)
            .verify_slice(&sig)
            .map_err(|_| LinkError::Invalid)?;
        if exp < now_ms() / 1000 {
            return Err(LinkError::Expired);
        }
        Ok(user)
    }

    /// What the download history stores instead of an address.
    pub fn ip_hash(&self, ip: &str) -> String {
        let mut h = Sha256::new();
        h.update(&self.ip_salt[..]);
        h.update(ip.as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_links_check_path_expiry_user_and_signature() {
        let s = Secrets::ephemeral();
        let url = s.sign(
            "/media/7/download/a.wav",
            Duration::from_secs(3600),
            Some(3),
        );
        let (path, query) = url.split_once('?').expect("query");
        assert_eq!(s.verify(path, Some(query)), Ok(Some(3)));
        // Another path, user, expiry or signature, or another key: refused.
        assert_eq!(
            s.verify("/media/8/download/a.wav", Some(query)),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            s.verify(path, Some(&query.replace("u=3", "u=4"))),
            Err(LinkError::Invalid)
        );
        let exp: i64 = query[4..query.find('&').expect("&")].parse().expect("exp");
        assert_eq!(
            s.verify(
                path,
                Some(&query.replace(&exp.to_string(), &(exp + 300).to_string()))
            ),
            Err(LinkError::Invalid)
        );
        let last = query.chars().last().expect("sig");
        let flipped = format!(
            "{}{}",
            &query[..query.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        assert_eq!(s.verify(path, Some(&flipped)), Err(LinkError::Invalid));
        assert_eq!(
            Secrets::ephemeral().verify(path, Some(query)),
            Err(LinkError::Invalid)
        );
        assert_eq!(s.verify(path, None), Err(LinkError::Invalid));
        // Expired: a correctly signed link whose time has passed.
        let old = s.sign_until(path, now_ms() / 1000 - 1, None);
        let (p, q) = old.split_once('?').expect("query");
        assert_eq!(s.verify(p, Some(q)), Err(LinkError::Expired));
    }

    #[test]
    fn addresses_are_hashed_with_a_salt() {
        let a = Secrets::ephemeral();
        let b = Secrets::ephemeral();
        assert_eq!(a.ip_hash("10.0.0.1"), a.ip_hash("10.0.0.1"));
        assert_ne!(a.ip_hash("10.0.0.1"), a.ip_hash("10.0.0.2"));
        assert_ne!(a.ip_hash("10.0.0.1"), b.ip_hash("10.0.0.1"));
        assert!(!a.ip_hash("10.0.0.1").contains("10.0.0.1"));
    }
}
