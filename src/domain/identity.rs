//! Who an event or error is about, as the roll-ups count them.

use sha2::{Digest, Sha256};

/// The user an error affected: the `user_id`, else the `anonymous_id`.
pub fn of<'a>(user_id: Option<&'a str>, anonymous_id: Option<&'a str>) -> Option<&'a str> {
    user_id.or(anonymous_id)
}

/// A stable 64-bit key of an identity. Roll-ups store it instead of the text because
/// counting distinct integers is several times faster than counting distinct
/// strings; with 64 bits, two identities of one project sharing a key is about as
/// likely as one in 10^8 even with a million users.
pub fn key(identity: &str) -> i64 {
    let digest = Sha256::digest(identity.as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(key("user-1"), key("user-1"));
        assert_ne!(key("user-1"), key("user-2"));
        // Stored keys must not change between versions.
        assert_eq!(key(""), -2_039_914_840_885_289_964);
        assert_eq!(of(None, Some("anon")), Some("anon"));
        assert_eq!(of(Some("u"), Some("anon")), Some("u"));
    }
}
