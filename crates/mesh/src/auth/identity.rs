//! Key source and introspector backed by the identity service's gRPC API (GetJwks,
//! IntrospectToken), reached over a peer channel: in-process in all-in-one mode, over the
//! network in mesh mode. Used by every service except identity itself.

use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;
use taskmesh::identity::v1::{GetJwksRequest, IntrospectTokenRequest, TokenKind as WireKind};

use super::{
    AuthError, Introspector, KeySource, OrganizationRole, Principal, PublicKey, Scope, TokenKind,
};
use crate::peers::PeerChannel;

/// Fetches identity's JWKS.
#[derive(Clone)]
pub struct IdentityKeySource {
    client: IdentityServiceClient<PeerChannel>,
}

impl IdentityKeySource {
    /// Over `channel` (the identity peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
        }
    }
}

#[async_trait::async_trait]
impl KeySource for IdentityKeySource {
    async fn fetch_keys(&self) -> Result<Vec<PublicKey>, AuthError> {
        let mut request = tonic::Request::new(GetJwksRequest {});
        request.set_timeout(std::time::Duration::from_secs(3));
        let response = self
            .client
            .clone()
            .get_jwks(request)
            .await
            .map_err(|status| AuthError::Unavailable(status.message().to_string()))?;
        Ok(response
            .into_inner()
            .keys
            .into_iter()
            .filter(|jwk| jwk.kty == "OKP" && jwk.crv == "Ed25519" && jwk.alg == "EdDSA")
            .map(|jwk| PublicKey {
                kid: jwk.kid,
                x: jwk.x,
            })
            .collect())
    }
}

/// Asks identity about personal access tokens.
#[derive(Clone)]
pub struct IdentityIntrospector {
    client: IdentityServiceClient<PeerChannel>,
}

impl IdentityIntrospector {
    /// Over `channel` (the identity peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
        }
    }
}

#[async_trait::async_trait]
impl Introspector for IdentityIntrospector {
    async fn introspect(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let mut request = tonic::Request::new(IntrospectTokenRequest {
            token: token.to_string(),
        });
        request.set_timeout(std::time::Duration::from_secs(3));
        let answer = self
            .client
            .clone()
            .introspect_token(request)
            .await
            .map_err(|status| AuthError::Unavailable(status.message().to_string()))?
            .into_inner();
        if !answer.active {
            return Ok(None);
        }
        let user_id = answer.user_id.parse().map_err(|_| AuthError::Invalid)?;
        let organization_id = Some(answer.organization_id.as_str())
            .filter(|id| !id.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid)?;
        let role = OrganizationRole::from_wire(answer.role);
        let token_kind =
            match WireKind::try_from(answer.token_kind).unwrap_or(WireKind::Unspecified) {
                WireKind::AccessToken => TokenKind::Access,
                _ => TokenKind::PersonalAccessToken,
            };
        let scope = if answer.scopes.iter().any(|scope| scope == "write") {
            Scope::ReadWrite
        } else {
            Scope::ReadOnly
        };
        let session_id = Some(answer.session_id.as_str())
            .filter(|id| !id.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid)?;
        Ok(Some(Principal {
            user_id,
            organization_id,
            role,
            token_kind,
            scope,
            session_id,
            token_id: answer.personal_access_token_id,
            expires_at: answer.expire_time.as_ref().map(crate::time::millis),
        }))
    }
}
