//! What projects asks tenancy: a user's role in the caller's organization (to add project
//! members, and to tell whether an assignee or a mentioned user who is not an explicit
//! project member can see the project as an organization owner or admin). Handlers see only
//! the [`OrganizationDirectory`] trait; [`TenancyClient`] is the real one, calling tenancy's
//! generated client the kit's one way ([`mesh::peers::call_peer`]) with the caller's own
//! credential, so tenancy answers only what the caller may know.

use mesh::ErrorCode;
use mesh::auth::OrganizationRole;
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::{CallContext, Idempotency, PeerChannel, call_peer};
use taskmesh::tenancy::v1::GetMembershipRequest;
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;

use crate::domain::ProjectsError;

/// Organization lookups projects needs.
#[async_trait::async_trait]
pub trait OrganizationDirectory: Send + Sync {
    /// `user`'s role in `organization`, or `None` when they are not a member.
    async fn role(
        &self,
        context: &CallContext,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrganizationRole>, ProjectsError>;
}

/// [`OrganizationDirectory`] over tenancy's gRPC API.
#[derive(Clone)]
pub struct TenancyClient {
    client: TenancyServiceClient<PeerChannel>,
}

impl TenancyClient {
    /// Over `channel` (the tenancy peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: TenancyServiceClient::new(channel),
        }
    }
}

#[async_trait::async_trait]
impl OrganizationDirectory for TenancyClient {
    async fn role(
        &self,
        context: &CallContext,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrganizationRole>, ProjectsError> {
        let request = GetMembershipRequest {
            organization_id: organization.to_string(),
            user_id: user.to_string(),
        };
        let response = call_peer(
            "tenancy",
            context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.client.clone();
                async move { client.get_membership(request).await }
            },
        )
        .await;
        match response {
            Ok(response) => Ok(response
                .membership
                .and_then(|membership| OrganizationRole::from_wire(membership.role))),
            // Not a member; or the caller may not ask about others (a guest), which for
            // every use here means the same: not someone the caller can involve.
            Err(failure)
                if matches!(
                    failure.refused_with(),
                    Some(ErrorCode::NotFound | ErrorCode::PermissionDenied)
                ) =>
            {
                Ok(None)
            }
            Err(failure) => Err(failure.into_service_error(crate::domain::DOMAIN).into()),
        }
    }
}
