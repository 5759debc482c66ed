//! What identity asks tenancy, through tenancy's generated client: resolve an organization
//! slug, and a user's role in an organization. Identity calls as the user it is serving,
//! with a one-minute access token it mints for that purpose, so tenancy applies its normal
//! rule ("any member may read their own membership") and needs no special trust in identity.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use mesh::auth::{AccessClaims, OrganizationRole};
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::{PeerChannel, retry_idempotent};
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::{
    GetMembershipRequest, OrganizationRole as WireRole, ResolveOrganizationRequest,
    resolve_organization_request,
};

use crate::domain::IdentityError;
use crate::keys::Keys;

/// Membership lookups against tenancy.
#[derive(Clone)]
pub struct Tenancy {
    client: TenancyServiceClient<PeerChannel>,
    keys: Arc<Keys>,
    issuer: String,
    audience: String,
}

impl Tenancy {
    /// Over `channel` (the tenancy peer).
    pub fn new(channel: PeerChannel, keys: Arc<Keys>, issuer: &str, audience: &str) -> Self {
        Self {
            client: TenancyServiceClient::new(channel),
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    async fn as_user<T>(
        &self,
        user_id: UserId,
        message: T,
    ) -> Result<tonic::Request<T>, IdentityError> {
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
        let token = self
            .keys
            .current()
            .await
            .sign(&claims)
            .map_err(|error| IdentityError::Internal(error.to_string()))?;
        let mut request = tonic::Request::new(message);
        request.set_timeout(Duration::from_secs(5));
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| IdentityError::Internal("token is not ASCII".into()))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    /// The organization with this slug.
    pub async fn resolve_slug(&self, slug: &str) -> Result<OrganizationId, IdentityError> {
        let mut request = tonic::Request::new(ResolveOrganizationRequest {
            lookup: Some(resolve_organization_request::Lookup::Slug(slug.to_string())),
        });
        request.set_timeout(Duration::from_secs(5));
        match self.client.clone().resolve_organization(request).await {
            Ok(response) => response
                .into_inner()
                .organization_id
                .parse()
                .map_err(|_| IdentityError::OrganizationNotFound),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                Err(IdentityError::OrganizationNotFound)
            }
            Err(status) => Err(IdentityError::Unavailable(status.message().to_string())),
        }
    }

    /// The user's role in the organization, or `None` when not a member.
    pub async fn role(
        &self,
        user_id: UserId,
        organization_id: OrganizationId,
    ) -> Result<Option<OrganizationRole>, IdentityError> {
        let result = retry_idempotent(|| async {
            let request = self
                .as_user(
                    user_id,
                    GetMembershipRequest {
                        organization_id: organization_id.to_string(),
                        user_id: user_id.to_string(),
                    },
                )
                .await
                .map_err(|error| tonic::Status::internal(error.to_string()))?;
            self.client.clone().get_membership(request).await
        })
        .await;
        match result {
            Ok(response) => {
                let membership = response.into_inner().membership.unwrap_or_default();
                Ok(
                    match WireRole::try_from(membership.role).unwrap_or(WireRole::Unspecified) {
                        WireRole::Owner => Some(OrganizationRole::Owner),
                        WireRole::Admin => Some(OrganizationRole::Admin),
                        WireRole::Member => Some(OrganizationRole::Member),
                        WireRole::Guest => Some(OrganizationRole::Guest),
                        WireRole::Unspecified => None,
                    },
                )
            }
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::NotFound | tonic::Code::PermissionDenied
                ) =>
            {
                Ok(None)
            }
            Err(status) => Err(IdentityError::Unavailable(status.message().to_string())),
        }
    }
}

/// Parses a stored role.
pub fn parse_role(role: Option<&str>) -> Option<OrganizationRole> {
    role.and_then(|role| OrganizationRole::from_str(role).ok())
}
