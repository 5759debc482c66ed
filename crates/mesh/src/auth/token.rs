//! EdDSA (Ed25519) access tokens: signing, publishing keys, verifying.
//!
//! Invariants: the algorithm is pinned to EdDSA (the header's `alg` is checked before any
//! key is looked up, so `none` and HMAC-with-the-public-key tricks fail); `iss`, `aud`,
//! `exp`, `nbf`, `iat`, `sub` and `jti` are required; the header `typ` is `at+jwt` and the
//! claim `typ` is `access` (RFC 8725 explicit typing); keys are found by `kid` and an unknown
//! `kid` triggers at most one JWKS refresh per `min_refresh` interval.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use super::{AuthError, OrganizationRole, Principal, Scope, TokenKind};

/// The JOSE header `typ` of taskmesh access tokens (RFC 9068).
pub const ACCESS_TOKEN_HEADER_TYPE: &str = "at+jwt";
/// The `typ` claim of access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "access";

/// Claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The organization id, when the token is scoped to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The role in `org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Always [`ACCESS_TOKEN_TYPE`].
    pub typ: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires at.
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
    /// The session (refresh-token family) this token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// A public key as published in the JWKS (OKP / Ed25519).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// Key id.
    pub kid: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
}

/// An Ed25519 signing key with its id.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
    /// Built once: every login, refresh and identity→tenancy call signs a token.
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate(kid: impl Into<String>) -> Self {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(kid, seed)
    }

    /// Restores a key from its 32-byte seed (as stored by identity).
    pub fn from_seed(kid: impl Into<String>, seed: [u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = key
            .to_pkcs8_der()
            .expect("an Ed25519 key always encodes as PKCS#8");
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        Self {
            kid: kid.into(),
            key,
            encoding,
        }
    }

    /// The 32-byte seed, for storage.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, for the JWKS.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        }
    }

    /// Signs `claims` as an access token.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some(ACCESS_TOKEN_HEADER_TYPE.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|_| AuthError::Invalid)
    }
}

/// Where verification keys come from: identity's JWKS (in-process or over gRPC), or a fixed
/// list in tests.
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    /// All currently published public keys.
    async fn fetch_keys(&self) -> Result<Vec<PublicKey>, AuthError>;
}

/// A fixed set of keys.
#[async_trait::async_trait]
impl KeySource for Vec<PublicKey> {
    async fn fetch_keys(&self) -> Result<Vec<PublicKey>, AuthError> {
        Ok(self.clone())
    }
}

/// Decoding keys by `kid`, refreshed from a [`KeySource`] when an unknown `kid` shows up.
pub struct JwksCache {
    source: Arc<dyn KeySource>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_refresh: Mutex<Option<Instant>>,
    min_refresh: Duration,
}

impl JwksCache {
    /// An empty cache over `source`; the first lookup fetches.
    pub fn new(source: Arc<dyn KeySource>, min_refresh: Duration) -> Self {
        Self {
            source,
            keys: RwLock::new(HashMap::new()),
            last_refresh: Mutex::new(None),
            min_refresh,
        }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        {
            // One refresh at a time, and not more often than `min_refresh`, so a flood of
            // tokens with made-up kids cannot hammer identity.
            let mut last = self.last_refresh.lock().await;
            let due = last.is_none_or(|at| at.elapsed() >= self.min_refresh);
            if due && !self.keys.read().await.contains_key(kid) {
                *last = Some(Instant::now());
                let fetched = self.source.fetch_keys().await?;
                let mut decoded = HashMap::new();
                for public in fetched {
                    if let Ok(key) = DecodingKey::from_ed_components(&public.x) {
                        decoded.insert(public.kid, key);
                    }
                }
                *self.keys.write().await = decoded;
            }
        }
        self.keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or(AuthError::UnknownKey)
    }
}

/// How long a verified access token is remembered at most (never past its expiry).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Most verified access tokens remembered.
const VERIFIED_MAX: usize = 10_000;

/// Verifies access tokens.
///
/// A token whose signature and claims were verified is remembered (by its SHA-256) until it
/// expires or for [`VERIFIED_TTL`], whichever is sooner: the same bytes verify the same way,
/// and the Ed25519 check was about a third of the CPU of a GetTask (callgrind). What the
/// signature cannot tell, revocation, is checked on every call after this
/// ([`super::Revocations`]). A signing key withdrawn from identity's key set stops
/// validating its tokens within [`VERIFIED_TTL`].
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    leeway: Duration,
    keys: JwksCache,
    verified: super::digest_cache::DigestCache<Principal>,
}

impl TokenVerifier {
    /// A verifier expecting `issuer` and `audience`.
    pub fn new(issuer: &str, audience: &str, leeway: Duration, keys: JwksCache) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway,
            keys,
            verified: super::digest_cache::DigestCache::new(VERIFIED_MAX),
        }
    }

    /// Verifies `token` and returns its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(principal) = self.verified.get(token) {
            return Ok(principal);
        }
        let principal = self.verify_uncached(token).await?;
        let until_expiry = principal
            .expires_at
            .map(|expires_at| expires_at - crate::time::now_millis())
            .map_or(Duration::ZERO, |left| {
                Duration::from_millis(u64::try_from(left).unwrap_or(0))
            });
        self.verified
            .insert(token, principal.clone(), until_expiry.min(VERIFIED_TTL));
        Ok(principal)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_HEADER_TYPE)
        {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = self.keys.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway.as_secs();
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).map_err(|error| {
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid,
                }
            })?;
        principal_from_claims(data.claims)
    }
}

fn principal_from_claims(claims: AccessClaims) -> Result<Principal, AuthError> {
    if claims.typ != ACCESS_TOKEN_TYPE || claims.jti.is_empty() {
        return Err(AuthError::Invalid);
    }
    let user_id = claims.sub.parse().map_err(|_| AuthError::Invalid)?;
    let organization_id = claims
        .org
        .map(|org| org.parse())
        .transpose()
        .map_err(|_| AuthError::Invalid)?;
    let role = claims
        .role
        .map(|role| OrganizationRole::from_str(&role))
        .transpose()
        .map_err(|_| AuthError::Invalid)?;
    // A role without an organization (or the reverse) is not something identity issues.
    if organization_id.is_some() != role.is_some() {
        return Err(AuthError::Invalid);
    }
    let session_id = claims
        .sid
        .map(|sid| sid.parse())
        .transpose()
        .map_err(|_| AuthError::Invalid)?;
    Ok(Principal {
        user_id,
        organization_id,
        role,
        token_kind: TokenKind::Access,
        scope: Scope::ReadWrite,
        session_id,
        token_id: claims.jti,
        expires_at: i64::try_from(claims.exp)
            .ok()
            .and_then(|seconds| seconds.checked_mul(1000)),
    })
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
