//! What tenancy asks identity: the signed-in caller's email and display name (to match
//! invitations and to show members). Handlers see only the [`IdentityDirectory`] trait, so
//! they can be tested without a network; [`IdentityClient`] is the real one, calling
//! identity's generated client the kit's one way ([`mesh::peers::call_peer`]): the caller's
//! own credential, deadline and request id go along, so identity answers only about the
//! caller, and the read is retried when identity is briefly unavailable.

use mesh::peers::{CallContext, Idempotency, PeerChannel, call_peer};
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

/// Identity lookups tenancy needs.
#[async_trait::async_trait]
pub trait IdentityDirectory: Send + Sync {
    /// The caller of the inbound request `context` was taken from.
    async fn caller(&self, context: &CallContext) -> Result<Caller, TenancyError>;
}

/// [`IdentityDirectory`] over identity's gRPC API.
#[derive(Clone)]
pub struct IdentityClient {
    client: IdentityServiceClient<PeerChannel>,
}

impl IdentityClient {
    /// Over `channel` (the identity peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
        }
    }
}

#[async_trait::async_trait]
impl IdentityDirectory for IdentityClient {
    async fn caller(&self, context: &CallContext) -> Result<Caller, TenancyError> {
        let response = call_peer(
            "identity",
            context,
            Idempotency::Idempotent,
            GetCurrentUserRequest {},
            |request| {
                let mut client = self.client.clone();
                async move { client.get_current_user(request).await }
            },
        )
        .await
        // Identity refusing the caller's own credential, which tenancy's auth layer just
        // accepted, is a bug (INTERNAL); identity being down is UNAVAILABLE.
        .map_err(|failure| failure.into_service_error(crate::domain::DOMAIN))?;
        let user = response.user.unwrap_or_default();
        Ok(Caller {
            email: user.email.to_lowercase(),
            display_name: user.display_name,
        })
    }
}
