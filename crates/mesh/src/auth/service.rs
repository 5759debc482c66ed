//! Service credentials: how a service calls another for no user (links reading the task a
//! share link shows). A credential is a short-lived HS256 JWT, prefixed `tmsvc_`, signed with
//! the deployment's service key (`auth.service_key`, which only taskmesh processes hold), naming
//! the calling service (`iss`), the one service it is for (`aud`) and the organization it may
//! read (`org`).
//!
//! Invariants: a service credential never becomes a [`super::Principal`], so no user method
//! accepts it; it reaches a handler only as a [`ServiceCaller`] extension, which a method must
//! ask for explicitly with [`require_service_caller`] naming its own service (audience). The
//! algorithm is pinned, `typ` is `service+jwt`, lifetime at most [`MAX_LIFETIME`]. No RPC
//! issues one: it is minted in-process from the key.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AUTH_DOMAIN, AuthError};
use crate::error::{ErrorCode, ServiceError};
use crate::ids::OrganizationId;

/// The prefix that marks a service credential.
pub const SERVICE_CREDENTIAL_PREFIX: &str = "tmsvc_";
/// The JOSE header `typ` of service credentials.
pub const SERVICE_CREDENTIAL_TYPE: &str = "service+jwt";
/// The longest lifetime a credential may have.
pub const MAX_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    org: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// A verified service credential: who calls, for which service, in which organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The calling service (`links`).
    pub issuer: String,
    /// The service the credential is for (`projects`).
    pub audience: String,
    /// The one organization it may read.
    pub organization_id: OrganizationId,
}

/// The deployment's service key.
#[derive(Clone)]
pub struct ServiceKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceKeys(<redacted>)")
    }
}

fn now_secs() -> u64 {
    u64::try_from(crate::time::now_millis() / 1_000).unwrap_or(0)
}

impl ServiceKeys {
    /// Keys from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the service key must be at least 32 bytes".into());
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// A credential of service `issuer` for service `audience` in `organization_id`, valid for
    /// `lifetime` (at most [`MAX_LIFETIME`]).
    pub fn mint(
        &self,
        issuer: &str,
        audience: &str,
        organization_id: OrganizationId,
        lifetime: Duration,
    ) -> Result<String, String> {
        let now = now_secs();
        let claims = Claims {
            iss: issuer.to_string(),
            aud: audience.to_string(),
            org: organization_id.to_string(),
            iat: now,
            exp: now + lifetime.min(MAX_LIFETIME).as_secs().max(1),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(SERVICE_CREDENTIAL_TYPE.into());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map(|token| format!("{SERVICE_CREDENTIAL_PREFIX}{token}"))
            .map_err(|error| format!("cannot sign a service credential: {error}"))
    }

    /// Verifies a `tmsvc_` credential.
    pub fn verify(&self, token: &str) -> Result<ServiceCaller, AuthError> {
        let jwt = token
            .strip_prefix(SERVICE_CREDENTIAL_PREFIX)
            .ok_or(AuthError::Invalid)?;
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(SERVICE_CREDENTIAL_TYPE)
        {
            return Err(AuthError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME.as_secs() {
            return Err(AuthError::Invalid);
        }
        Ok(ServiceCaller {
            issuer: claims.iss,
            audience: claims.aud,
            organization_id: claims.org.parse().map_err(|_| AuthError::Invalid)?,
        })
    }
}

/// The service caller of a request made for `audience` (the handling service's name), or
/// PERMISSION_DENIED: a user's credential, a credential for another service, or none.
pub fn require_service_caller<'a, T>(
    request: &'a tonic::Request<T>,
    audience: &str,
) -> Result<&'a ServiceCaller, ServiceError> {
    match request.extensions().get::<ServiceCaller>() {
        Some(caller) if caller.audience == audience => Ok(caller),
        _ => Err(ServiceError::new(
            ErrorCode::PermissionDenied,
            AUTH_DOMAIN,
            "SERVICE_CREDENTIAL_REQUIRED",
            "this method answers only taskmesh services",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_credentials_verify_only_under_their_key_and_unaltered() {
        let keys = ServiceKeys::new(&[7; 32]).unwrap();
        let organization = OrganizationId::new();
        let token = keys
            .mint("links", "projects", organization, Duration::from_secs(600))
            .unwrap();
        let caller = keys.verify(&token).unwrap();
        assert_eq!(
            caller,
            ServiceCaller {
                issuer: "links".into(),
                audience: "projects".into(),
                organization_id: organization
            }
        );
        let other = ServiceKeys::new(&[8; 32]).unwrap();
        assert_eq!(other.verify(&token), Err(AuthError::Invalid));
        let mut altered = token.clone();
        altered.pop();
        assert_eq!(keys.verify(&altered), Err(AuthError::Invalid));
        assert_eq!(keys.verify(&token[6..]), Err(AuthError::Invalid));
        assert!(ServiceKeys::new(&[1; 16]).is_err());
        // A user-style token under the same secret is not a service credential.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let claims = Claims {
            iss: "x".into(),
            aud: "projects".into(),
            org: organization.to_string(),
            iat: now_secs(),
            exp: now_secs() + 30,
            jti: "j".into(),
        };
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7; 32])).unwrap();
        assert_eq!(
            keys.verify(&format!("tmsvc_{forged}")),
            Err(AuthError::Invalid)
        );
        let long = Claims {
            exp: now_secs() + 3_600,
            ..claims
        };
        header.typ = Some(SERVICE_CREDENTIAL_TYPE.into());
        let forged =
            jsonwebtoken::encode(&header, &long, &EncodingKey::from_secret(&[7; 32])).unwrap();
        assert_eq!(
            keys.verify(&format!("tmsvc_{forged}")),
            Err(AuthError::Invalid),
            "too long-lived"
        );
    }

    #[test]
    fn only_methods_asking_for_their_own_audience_accept_it() {
        let caller = ServiceCaller {
            issuer: "links".into(),
            audience: "projects".into(),
            organization_id: OrganizationId::new(),
        };
        let mut request = tonic::Request::new(());
        assert!(require_service_caller(&request, "projects").is_err());
        request.extensions_mut().insert(caller.clone());
        assert_eq!(
            require_service_caller(&request, "projects").unwrap(),
            &caller
        );
        assert_eq!(
            require_service_caller(&request, "documents")
                .unwrap_err()
                .reason(),
            "SERVICE_CREDENTIAL_REQUIRED"
        );
    }
}
