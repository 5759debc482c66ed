//! What identity asks tenancy: resolve an organization slug, and a user's role in an
//! organization. Handlers see only the [`TenancyDirectory`] trait, so they can be tested
//! without a network; [`TenancyClient`] is the real one, calling tenancy's generated client the
//! kit's one way ([`mesh::peers::call_peer`]: the inbound call's deadline and request id go
//! along; reads are retried when tenancy is briefly unavailable).
//!
//! Identity asks about a membership as the user it is serving, with a one-minute access
//! token it mints for that purpose, so tenancy applies its normal rule ("any member may read
//! their own membership") and needs no special trust in identity.

use std::sync::Arc;
use std::time::Duration;

use mesh::ErrorCode;
use mesh::auth::{AccessClaims, OrganizationRole};
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::{CallContext, Idempotency, PeerChannel, PeerFailure, call_peer};
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::{
    GetMembershipRequest, ResolveOrganizationRequest, resolve_organization_request,
};

use crate::domain::IdentityError;
use crate::keys::Keys;

/// Tenancy lookups identity needs.
#[async_trait::async_trait]
pub trait TenancyDirectory: Send + Sync {
    /// The organization with this slug.
    async fn resolve_slug(
        &self,
        context: &CallContext,
        slug: &str,
    ) -> Result<OrganizationId, IdentityError>;

    /// The user's role in the organization, or `None` when not a member.
    async fn role(
        &self,
        context: &CallContext,
        user_id: UserId,
        organization_id: OrganizationId,
    ) -> Result<Option<OrganizationRole>, IdentityError>;
}

/// [`TenancyDirectory`] over tenancy's gRPC API.
#[derive(Clone)]
pub struct TenancyClient {
    client: TenancyServiceClient<PeerChannel>,
    keys: Arc<Keys>,
    issuer: String,
    audience: String,
}

impl TenancyClient {
    /// Over `channel` (the tenancy peer).
    pub fn new(channel: PeerChannel, keys: Arc<Keys>, issuer: &str, audience: &str) -> Self {
        Self {
            client: TenancyServiceClient::new(channel),
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// A one-minute access token for `user_id`, for asking tenancy as that user.
    async fn token_for(&self, user_id: UserId) -> Result<String, IdentityError> {
        let now = (mesh::time::now_millis() / 1_000) as u64;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            org: None,
            role: None,
            typ: "access".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: uuid::Uuid::now_v7().to_string(),
            sid: None,
        };
        self.keys
            .current()
            .await
            .sign(&claims)
            .map_err(|error| IdentityError::Internal(error.to_string()))
    }
}

/// Longest a lookup may take, whatever the caller's deadline: logins wait on it.
const LOOKUP_LIMIT: Duration = Duration::from_secs(5);

fn unavailable(failure: PeerFailure) -> IdentityError {
    failure.into_service_error(crate::domain::DOMAIN).into()
}

#[async_trait::async_trait]
impl TenancyDirectory for TenancyClient {
    async fn resolve_slug(
        &self,
        context: &CallContext,
        slug: &str,
    ) -> Result<OrganizationId, IdentityError> {
        let request = ResolveOrganizationRequest {
            lookup: Some(resolve_organization_request::Lookup::Slug(slug.to_string())),
        };
        let result = call_peer(
            "tenancy",
            &context.capped(LOOKUP_LIMIT),
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.client.clone();
                async move { client.resolve_organization(request).await }
            },
        )
        .await;
        match result {
            Ok(response) => response
                .organization_id
                .parse()
                .map_err(|_| IdentityError::OrganizationNotFound),
            Err(failure)
                if matches!(
                    failure.refused_with(),
                    Some(ErrorCode::NotFound | ErrorCode::InvalidArgument)
                ) =>
            {
                Err(IdentityError::OrganizationNotFound)
            }
            Err(failure) => Err(unavailable(failure)),
        }
    }

    async fn role(
        &self,
        context: &CallContext,
        user_id: UserId,
        organization_id: OrganizationId,
    ) -> Result<Option<OrganizationRole>, IdentityError> {
        let as_user = context
            .capped(LOOKUP_LIMIT)
            .with_bearer(&self.token_for(user_id).await?);
        let request = GetMembershipRequest {
            organization_id: organization_id.to_string(),
            user_id: user_id.to_string(),
        };
        let result = call_peer(
            "tenancy",
            &as_user,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.client.clone();
                async move { client.get_membership(request).await }
            },
        )
        .await;
        match result {
            Ok(response) => Ok(OrganizationRole::from_wire(
                response.membership.unwrap_or_default().role,
            )),
            Err(failure)
                if matches!(
                    failure.refused_with(),
                    Some(ErrorCode::NotFound | ErrorCode::PermissionDenied)
                ) =>
            {
                Ok(None)
            }
            Err(failure) => Err(unavailable(failure)),
        }
    }
}

/// Parses a stored role.
pub fn parse_role(role: Option<&str>) -> Option<OrganizationRole> {
    role.and_then(|role| role.parse().ok())
}
