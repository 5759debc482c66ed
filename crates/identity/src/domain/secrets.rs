//! Opaque secrets: refresh tokens, personal access tokens, reset tokens.
//!
//! Each is a prefix plus 256 bits from the OS CSPRNG in base64url. Only the SHA-256 of a
//! secret is stored, so a database leak does not leak usable credentials; lookups hash the
//! presented secret and compare digests through the database index.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "tmrt_";
/// Prefix of password-reset tokens.
pub const RESET_TOKEN_PREFIX: &str = "tmrst_";
/// Prefix of personal access tokens (shared with the auth layer, which routes on it).
pub const PERSONAL_ACCESS_TOKEN_PREFIX: &str = mesh::auth::PERSONAL_ACCESS_TOKEN_PREFIX;

/// A new secret with `prefix`.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest stored for a secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The first characters of a personal access token, shown in listings to tell tokens apart.
pub fn display_prefix(secret: &str) -> String {
    secret
        .chars()
        .take(PERSONAL_ACCESS_TOKEN_PREFIX.len() + 6)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_long_and_distinct() {
        let a = generate(PERSONAL_ACCESS_TOKEN_PREFIX);
        let b = generate(PERSONAL_ACCESS_TOKEN_PREFIX);
        assert!(a.starts_with("tmpat_"));
        assert_eq!(a.len(), "tmpat_".len() + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(display_prefix(&a).len(), 12);
    }
}
