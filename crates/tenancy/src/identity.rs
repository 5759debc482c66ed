//! What tenancy asks identity, through identity's generated client: the signed-in caller's
//! email and display name (to match invitations and to show members). The call carries the
//! caller's own credential, so identity answers only about the caller.

use mesh::peers::{CallContext, PeerChannel, retry_idempotent};
use taskmesh::identity::v1::GetCurrentUserRequest;
use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;

use crate::domain::TenancyError;

/// The caller as identity knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Normalized email.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

/// Identity lookups.
#[derive(Clone)]
pub struct Identity {
    client: IdentityServiceClient<PeerChannel>,
}

impl Identity {
    /// Over `channel` (the identity peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
        }
    }

    /// The caller of the inbound request `context` was taken from.
    pub async fn caller(&self, context: &CallContext) -> Result<Caller, TenancyError> {
        let response = retry_idempotent(|| async {
            self.client
                .clone()
                .get_current_user(context.outbound(GetCurrentUserRequest {}))
                .await
        })
        .await
        .map_err(|status| match status.code() {
            tonic::Code::Unauthenticated
            | tonic::Code::PermissionDenied
            | tonic::Code::NotFound => TenancyError::Internal(format!(
                "identity refused the caller's own credential: {}",
                status.message()
            )),
            _ => TenancyError::Unavailable(status.message().to_string()),
        })?;
        let user = response.into_inner().user.unwrap_or_default();
        Ok(Caller {
            email: user.email.to_lowercase(),
            display_name: user.display_name,
        })
    }
}
