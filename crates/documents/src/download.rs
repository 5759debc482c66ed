//! Download tokens: the `{token}` of the short-lived plain-HTTP download URL
//! (`/d/{token}`, DocumentService.CreateDownloadUrl). A token names one organization,
//! document and version and when it expires, and is signed with HMAC-SHA256 under the
//! documents service's key.
//!
//! Invariants: a token grants exactly that download until it expires, nothing else (it is not
//! a credential for any RPC); any change to it, another key, or an expired token verifies as
//! nothing; comparison is constant-time (ring's `hmac::verify`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// How long a download URL works.
pub const LIFETIME_MS: i64 = 5 * 60 * 1_000;

/// What a token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadToken {
    /// Organization.
    pub organization_id: String,
    /// Document.
    pub document_id: String,
    /// Version.
    pub version: i64,
    /// Expiry, Unix milliseconds.
    pub expires_at: i64,
}

/// Signs and verifies tokens.
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    /// A signer with `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the download signing key must be at least 32 bytes".into());
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    /// `<base64url payload>.<base64url signature>`.
    pub fn sign(&self, token: &DownloadToken) -> String {
        let payload = format!(
            "{}|{}|{}|{}",
            token.organization_id, token.document_id, token.version, token.expires_at
        );
        let signature = hmac::sign(&self.key, payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    /// The token of `text` if it is signed with this key and has not expired at `now`.
    pub fn verify(&self, text: &str, now: i64) -> Option<DownloadToken> {
        let (payload, signature) = text.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key, &payload, &signature).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.split('|');
        let token = DownloadToken {
            organization_id: parts.next()?.to_string(),
            document_id: parts.next()?.to_string(),
            version: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && now < token.expires_at).then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> DownloadToken {
        DownloadToken {
            organization_id: "o1".into(),
            document_id: "d1".into(),
            version: 3,
            expires_at: 10_000,
        }
    }

    #[test]
    fn tokens_verify_until_they_expire_and_only_untouched_under_their_key() {
        let signer = Signer::new(&[7; 32]).unwrap();
        let text = signer.sign(&token());
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{text}"
        );
        assert_eq!(signer.verify(&text, 9_999), Some(token()));
        assert_eq!(signer.verify(&text, 10_000), None, "expired");
        let other = Signer::new(&[8; 32]).unwrap();
        assert_eq!(other.verify(&text, 0), None, "another key");
        // Another version under the same signature.
        let (_, signature) = text.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("o1|d1|4|10000"));
        assert_eq!(signer.verify(&forged, 0), None);
        for broken in ["", ".", "abc", "abc.def", &text[1..], &format!("{text}x")] {
            assert_eq!(signer.verify(broken, 0), None, "{broken}");
        }
        assert!(Signer::new(&[1; 16]).is_err());
        assert_eq!(format!("{signer:?}"), "Signer(<redacted>)");
    }
}
