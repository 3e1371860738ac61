//! Project API keys: `tt_live_<publicId>_<secret>`. Only SHA-256 of
//! `publicId:secret` is stored; verification is constant-time. Verified keys are
//! cached briefly so the hot path does no database read per request.

use crate::store::{ApiKeyAuthRow, Db, StoreResult};
use dashmap::DashMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

const PREFIX: &str = "tt_live_";
/// How long a key lookup (found or not) is reused; bounds how late a revocation made
/// by another process takes effect.
const CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub public_id: String,
    pub secret: String,
}

/// Parses a key case-insensitively: 32 hex characters of public id, then a hex secret.
pub fn parse_key(raw: &str) -> Option<ParsedKey> {
    let raw = raw.trim();
    if raw.len() < PREFIX.len() || !raw[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let (public_id, secret) = raw[PREFIX.len()..].split_once('_')?;
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if public_id.len() != 32 || !hex(public_id) || !hex(secret) || secret.len() > 256 {
        return None;
    }
    Some(ParsedKey {
        public_id: public_id.to_ascii_lowercase(),
        secret: secret.to_ascii_lowercase(),
    })
}

pub fn secret_hash(public_id: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{public_id}:{secret}").as_bytes()))
}

/// A fresh key: (full key shown once, public id, stored hash).
pub fn generate_key() -> (String, String, String) {
    let mut public = [0u8; 16];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut public);
    rand::thread_rng().fill_bytes(&mut secret);
    let (public, secret) = (hex::encode(public), hex::encode(secret));
    let hash = secret_hash(&public, &secret);
    (format!("{PREFIX}{public}_{secret}"), public, hash)
}

/// What a presented key turned out to be.
#[derive(Debug, Clone)]
pub enum KeyCheck {
    Valid(VerifiedKey),
    /// The secret matched, but the key was revoked at this time (Unix ms).
    Revoked(i64),
    /// The secret matched, but the key expired at this time (Unix ms).
    Expired(i64),
    /// Malformed, unknown, wrong secret, or its project or organization deleted.
    Invalid,
}

/// A key that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub key_id: String,
    pub project_id: String,
    pub allowed_app: Option<String>,
    pub plan: String,
}

#[derive(Default)]
pub struct KeyCache {
    entries: DashMap<String, (Instant, Option<ApiKeyAuthRow>)>,
}

impl KeyCache {
    /// Only a key whose secret matches is told apart as revoked or expired: anyone
    /// else learns nothing about which keys exist.
    pub async fn verify(&self, db: &Db, raw: &str, now_ms: i64) -> StoreResult<KeyCheck> {
        let Some(key) = parse_key(raw) else {
            return Ok(KeyCheck::Invalid);
        };
        let Some(row) = self.row(db, &key.public_id).await? else {
            return Ok(KeyCheck::Invalid);
        };
        let presented = secret_hash(&key.public_id, &key.secret);
        if !bool::from(presented.as_bytes().ct_eq(row.secret_hash.as_bytes())) {
            return Ok(KeyCheck::Invalid);
        }
        Ok(Self::check(row, now_ms))
    }

    /// A key by its public id alone: what a DSN carries (Sentry SDKs never send a
    /// secret; a DSN is public by design, like a browser key).
    pub async fn verify_public_id(
        &self,
        db: &Db,
        public_id: &str,
        now_ms: i64,
    ) -> StoreResult<KeyCheck> {
        let public_id = public_id.trim().to_ascii_lowercase();
        if public_id.len() != 32 || !public_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(KeyCheck::Invalid);
        }
        Ok(match self.row(db, &public_id).await? {
            Some(row) => Self::check(row, now_ms),
            None => KeyCheck::Invalid,
        })
    }

    async fn row(&self, db: &Db, public_id: &str) -> StoreResult<Option<ApiKeyAuthRow>> {
        let cached = self
            .entries
            .get(public_id)
            .filter(|e| e.0.elapsed() < CACHE_TTL)
            .map(|e| e.1.clone());
        Ok(match cached {
            Some(row) => row,
            None => {
                let row = db.api_key_for_auth(public_id).await?;
                self.entries
                    .insert(public_id.to_string(), (Instant::now(), row.clone()));
                row
            }
        })
    }

    fn check(row: ApiKeyAuthRow, now_ms: i64) -> KeyCheck {
        if let Some(at) = row.revoked_at {
            return KeyCheck::Revoked(at);
        }
        if let Some(exp) = row.expires_at.filter(|exp| *exp <= now_ms) {
            return KeyCheck::Expired(exp);
        }
        KeyCheck::Valid(VerifiedKey {
            key_id: row.id,
            project_id: row.project_id,
            allowed_app: row.allowed_app,
            plan: row.plan,
        })
    }

    /// Drops a cached key at once (after a revocation in this process).
    pub fn forget(&self, public_id: &str) {
        self.entries.remove(public_id);
    }

    /// Drops every cached key (after another process changed keys, projects,
    /// organizations or plans).
    pub fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let (full, public, hash) = generate_key();
        assert_eq!(full.len(), 105);
        let parsed = parse_key(&full.to_uppercase().replace("TT_LIVE_", "tt_live_")).unwrap();
        assert_eq!(parsed.public_id, public);
        assert_eq!(secret_hash(&parsed.public_id, &parsed.secret), hash);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "tt_live_",
            "tt_test_0123456789abcdef0123456789abcdef_00",
            "tt_live_0123456789abcdef0123456789abcde_00",
            "tt_live_0123456789abcdef0123456789abcdef_",
            "tt_live_0123456789abcdef0123456789abcdef_zz",
            "tt_live_0123456789abcdef0123456789abcdeg_00",
            "tt_live_ü123456789abcdef0123456789abcde_00",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }
}
