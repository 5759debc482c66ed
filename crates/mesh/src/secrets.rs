//! Opaque secrets (refresh, reset, invitation and personal access tokens): a prefix plus 256
//! bits from the OS CSPRNG in base64url. Only the SHA-256 of a secret is ever stored, so a
//! database leak does not leak usable credentials; lookups hash the presented secret and
//! compare digests through the database index.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new secret with `prefix` (the prefix tells secret scanners and routers what it is).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest stored for a secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The first six characters after the prefix, shown in listings to tell secrets apart.
pub fn display_prefix(prefix: &str, secret: &str) -> String {
    secret.chars().take(prefix.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_long_and_distinct() {
        let a = generate("tmpat_");
        let b = generate("tmpat_");
        assert!(a.starts_with("tmpat_"));
        assert_eq!(a.len(), "tmpat_".len() + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(display_prefix("tmpat_", &a).len(), 12);
    }
}
