//! Tenancy's gRPC API: the only module that sees tonic.
//!
//! Authorization, every time: the organization comes from the verified token (a request
//! naming another one is PERMISSION_DENIED `ORGANIZATION_MISMATCH`), and the caller's role is
//! read from tenancy's own memberships table, not trusted from the token, so a removed or
//! demoted member loses access on the next request.

mod convert;
mod invitations;
mod organizations;

use std::sync::Arc;

use mesh::auth::{OrganizationRole, Principal, TokenKind};
use mesh::error::ServiceError;
use mesh::ids::OrganizationId;
use mesh::paging::{Keyset, PageRequest};
use taskmesh::tenancy::v1::tenancy_service_server::TenancyService;
use taskmesh::tenancy::v1::*;
use tonic::{Request, Response, Status};

use crate::TenancyConfig;
use crate::domain::TenancyError;
use crate::identity::IdentityDirectory;
use crate::store::{MembershipRecord, TenancyStore};

/// Everything the tenancy API needs.
pub struct TenancyApi {
    pub(crate) store: Arc<dyn TenancyStore>,
    pub(crate) identity: Arc<dyn IdentityDirectory>,
    pub(crate) config: TenancyConfig,
}

type Reply<T> = std::result::Result<Response<T>, Status>;
type Result<T> = std::result::Result<T, ServiceError>;

impl TenancyApi {
    /// The caller's membership in the organization named by the request, which must be the
    /// token's organization, with at least `minimum` role.
    async fn member_of(
        &self,
        principal: &Principal,
        organization_id: &str,
        field: &'static str,
        minimum: OrganizationRole,
    ) -> Result<MembershipRecord> {
        self.member_of_id(
            principal,
            parse_organization(field, organization_id)?,
            minimum,
        )
        .await
    }

    /// [`TenancyApi::member_of`] for an organization id already parsed.
    async fn member_of_id(
        &self,
        principal: &Principal,
        organization_id: OrganizationId,
        minimum: OrganizationRole,
    ) -> Result<MembershipRecord> {
        principal.ensure_organization(organization_id)?;
        let membership = self
            .store
            .membership(organization_id, principal.user_id)
            .await?
            .ok_or(TenancyError::OrganizationNotFound)?;
        if !membership.role.at_least(minimum) {
            return Err(TenancyError::RoleInsufficient("role too low").into());
        }
        Ok(membership)
    }

    /// [`TenancyApi::member_of`] for a change: the credential must also be allowed to write.
    async fn writer_of(
        &self,
        principal: &Principal,
        organization_id: &str,
        field: &'static str,
        minimum: OrganizationRole,
    ) -> Result<MembershipRecord> {
        principal.ensure_can_write()?;
        self.member_of(principal, organization_id, field, minimum)
            .await
    }
}

fn parse_organization(field: &'static str, text: &str) -> Result<OrganizationId> {
    mesh::request::parse_id(crate::domain::DOMAIN, field, text)
}

/// The caller, who must hold an access token (not a personal access token).
fn access_principal<T>(request: &Request<T>) -> Result<&Principal> {
    let principal = mesh::auth::require_principal(request)?;
    if principal.token_kind != TokenKind::Access {
        return Err(TenancyError::TokenKindNotAllowed.into());
    }
    Ok(principal)
}

use mesh::request::request_id;

/// The page a List asks for, bound to the query's `fingerprint` and order.
fn page_request(
    page_size: i32,
    page_token: &str,
    fingerprint: String,
    order: Keyset,
) -> Result<PageRequest> {
    PageRequest::new(
        crate::domain::DOMAIN,
        page_size,
        page_token,
        fingerprint,
        order,
    )
}

#[tonic::async_trait]
impl TenancyService for TenancyApi {
    async fn create_organization(
        &self,
        request: Request<CreateOrganizationRequest>,
    ) -> Reply<CreateOrganizationResponse> {
        Ok(Response::new(organizations::create(self, request).await?))
    }

    async fn get_organization(
        &self,
        request: Request<GetOrganizationRequest>,
    ) -> Reply<GetOrganizationResponse> {
        Ok(Response::new(organizations::get(self, request).await?))
    }

    async fn update_organization(
        &self,
        request: Request<UpdateOrganizationRequest>,
    ) -> Reply<UpdateOrganizationResponse> {
        Ok(Response::new(organizations::update(self, request).await?))
    }

    async fn list_organizations(
        &self,
        request: Request<ListOrganizationsRequest>,
    ) -> Reply<ListOrganizationsResponse> {
        Ok(Response::new(organizations::list(self, request).await?))
    }

    async fn resolve_organization(
        &self,
        request: Request<ResolveOrganizationRequest>,
    ) -> Reply<ResolveOrganizationResponse> {
        Ok(Response::new(organizations::resolve(self, request).await?))
    }

    async fn list_members(
        &self,
        request: Request<ListMembersRequest>,
    ) -> Reply<ListMembersResponse> {
        Ok(Response::new(
            organizations::list_members(self, request).await?,
        ))
    }

    async fn get_member_display_names(
        &self,
        request: Request<GetMemberDisplayNamesRequest>,
    ) -> Reply<GetMemberDisplayNamesResponse> {
        Ok(Response::new(
            organizations::member_display_names(self, request).await?,
        ))
    }

    async fn get_membership(
        &self,
        request: Request<GetMembershipRequest>,
    ) -> Reply<GetMembershipResponse> {
        Ok(Response::new(
            organizations::get_membership(self, request).await?,
        ))
    }

    async fn update_member_role(
        &self,
        request: Request<UpdateMemberRoleRequest>,
    ) -> Reply<UpdateMemberRoleResponse> {
        Ok(Response::new(
            organizations::update_member_role(self, request).await?,
        ))
    }

    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Reply<RemoveMemberResponse> {
        Ok(Response::new(
            organizations::remove_member(self, request).await?,
        ))
    }

    async fn create_invitation(
        &self,
        request: Request<CreateInvitationRequest>,
    ) -> Reply<CreateInvitationResponse> {
        Ok(Response::new(invitations::create(self, request).await?))
    }

    async fn list_invitations(
        &self,
        request: Request<ListInvitationsRequest>,
    ) -> Reply<ListInvitationsResponse> {
        Ok(Response::new(invitations::list(self, request).await?))
    }

    async fn revoke_invitation(
        &self,
        request: Request<RevokeInvitationRequest>,
    ) -> Reply<RevokeInvitationResponse> {
        Ok(Response::new(invitations::revoke(self, request).await?))
    }

    async fn accept_invitation(
        &self,
        request: Request<AcceptInvitationRequest>,
    ) -> Reply<AcceptInvitationResponse> {
        Ok(Response::new(invitations::accept(self, request).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Reply<ListAuditEventsResponse> {
        Ok(Response::new(
            invitations::list_audit_events(self, request).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    //! Handlers called directly, with a real SQLite store and a fake identity peer: no
    //! network, no edge.

    use std::sync::Mutex;

    use mesh::auth::{Scope, TokenKind};
    use mesh::ids::UserId;
    use mesh::peers::CallContext;

    use super::*;
    use crate::identity::Caller;
    use crate::store::sql::SqlTenancyStore;

    /// Answers `caller` from a script: a caller, or a wire-form failure.
    struct FakeIdentity(Mutex<std::result::Result<Caller, ServiceError>>);

    #[async_trait::async_trait]
    impl IdentityDirectory for FakeIdentity {
        async fn caller(&self, _: &CallContext) -> std::result::Result<Caller, TenancyError> {
            Ok(self.0.lock().unwrap().clone()?)
        }
    }

    async fn api(identity: std::result::Result<Caller, ServiceError>) -> (TenancyApi, impl Drop) {
        let (database, dir) =
            mesh::testing::sqlite(&[&crate::migrations(), &events::migrations()]).await;
        let api = TenancyApi {
            store: Arc::new(SqlTenancyStore(kit::Storage::detached(database))),
            identity: Arc::new(FakeIdentity(Mutex::new(identity))),
            config: TenancyConfig::default(),
        };
        (api, dir)
    }

    fn signed_in<T>(user_id: UserId, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(Principal {
            user_id,
            organization_id: None,
            role: None,
            token_kind: TokenKind::Access,
            scope: Scope::ReadWrite,
            session_id: None,
            token_id: "test".into(),
            expires_at: None,
        });
        request
    }

    fn create(slug: &str) -> CreateOrganizationRequest {
        CreateOrganizationRequest {
            name: "Acme".into(),
            slug: slug.into(),
            request_id: String::new(),
        }
    }

    #[tokio::test]
    async fn the_creator_becomes_owner_with_the_email_identity_gives() {
        let (api, _dir) = api(Ok(Caller {
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
        }))
        .await;
        let user = UserId::new();
        let created = api
            .create_organization(signed_in(user, create("acme-labs")))
            .await
            .unwrap()
            .into_inner()
            .organization
            .unwrap();
        let owner = api
            .store
            .membership(created.id.parse().unwrap(), user)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(owner.role, OrganizationRole::Owner);
        assert_eq!(owner.email, "ada@example.com");
    }

    #[tokio::test]
    async fn identity_down_is_unavailable_and_writes_nothing() {
        let (api, _dir) = api(Err(ServiceError::dependency_unavailable(
            crate::domain::DOMAIN,
            &"identity is down",
        )))
        .await;
        let user = UserId::new();
        let status = api
            .create_organization(signed_in(user, create("acme-down")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            mesh::error::reason_of(&status).as_deref(),
            Some("DEPENDENCY_UNAVAILABLE")
        );
        let mine = api
            .store
            .organizations_of(
                user,
                &PageRequest::first(10, crate::store::ORGANIZATIONS_ORDER),
            )
            .await
            .unwrap();
        assert!(
            mine.items.is_empty(),
            "a failed create left an organization"
        );
        assert!(api.store.resolve_slug("acme-down").await.unwrap().is_none());
    }
}
