//! Webhook secrets: generated (`whsec_` + base64 of 32 random bytes), kept encrypted at rest
//! (ChaCha20-Poly1305 under the service's webhook key, bound to the endpoint id), and used to
//! sign deliveries per Standard Webhooks (HMAC-SHA256 over `id.timestamp.body`).
//!
//! Invariants: a secret leaves the service only in the create and rotate responses (and the
//! idempotent replay of a create); the ciphertext names the key that sealed it, so a replica
//! with another key fails loudly instead of signing with garbage.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;

/// The prefix of every secret.
pub const PREFIX: &str = "whsec_";

/// A signing secret's bytes. Debug never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(pub Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, String> {
        let mut bytes = vec![0_u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_string())?;
        Ok(Self(bytes))
    }

    /// The `whsec_...` text shown to the user once.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// From its `whsec_...` text.
    pub fn parse(text: &str) -> Option<Self> {
        STANDARD.decode(text.strip_prefix(PREFIX)?).ok().map(Self)
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut context = ring::hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

/// The `webhook-signature` header: one signature per active secret, space-separated.
pub fn signature_header(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The key that seals secrets at rest.
pub struct SecretKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// From 32 key bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, String> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| "the webhook secret key must be 32 bytes".to_string())?;
        let digest = sha2::Sha256::digest(bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id: digest[..6]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        })
    }

    /// From the base64 of 32 bytes (the config value).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "the webhook secret key must be base64".to_string())?;
        Self::new(&bytes)
    }

    /// Seals `secret` for the endpoint `endpoint_id`: `<key id>:<base64 nonce‖ciphertext>`.
    pub fn seal(&self, endpoint_id: &str, secret: &SigningSecret) -> Result<String, String> {
        let mut nonce = [0_u8; 12];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "the system random source failed".to_string())?;
        let mut sealed = secret.0.clone();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(endpoint_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| "cannot seal the secret".to_string())?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{}:{}", self.id, STANDARD.encode(stored)))
    }

    /// Opens what [`SecretKey::seal`] sealed for `endpoint_id`.
    pub fn open(&self, endpoint_id: &str, stored: &str) -> Result<SigningSecret, String> {
        let (id, sealed) = stored
            .split_once(':')
            .ok_or_else(|| "malformed sealed secret".to_string())?;
        if id != self.id {
            return Err(format!(
                "the secret was sealed with webhook key {id}, this replica has {}; configure \
                 the same notifications.webhook_secret_key on every replica",
                self.id
            ));
        }
        let mut bytes = STANDARD
            .decode(sealed)
            .map_err(|_| "malformed sealed secret".to_string())?;
        if bytes.len() < 12 + aead::CHACHA20_POLY1305.tag_len() {
            return Err("malformed sealed secret".into());
        }
        let mut ciphertext = bytes.split_off(12);
        let nonce: [u8; 12] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| "malformed sealed secret".to_string())?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(endpoint_id.as_bytes()),
                &mut ciphertext,
            )
            .map_err(|_| {
                "the sealed secret does not open (tampered or wrong endpoint)".to_string()
            })?;
        Ok(SigningSecret(plain.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_sealed_and_are_bound_to_their_endpoint() {
        let key = SecretKey::from_base64(&kit::keys::generate_base64().unwrap()).unwrap();
        let secret = SigningSecret::generate().unwrap();
        assert!(secret.reveal().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&secret.reveal()), Some(secret.clone()));
        let sealed = key.seal("endpoint-1", &secret).unwrap();
        assert!(!sealed.contains(&secret.reveal()[6..]));
        assert_eq!(key.open("endpoint-1", &sealed).unwrap(), secret);
        assert!(key.open("endpoint-2", &sealed).is_err());
        let other = SecretKey::from_base64(&kit::keys::generate_base64().unwrap()).unwrap();
        assert!(
            other
                .open("endpoint-1", &sealed)
                .unwrap_err()
                .contains("webhook key")
        );
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert_eq!(format!("{secret:?}"), "SigningSecret(<redacted>)");
    }
}
