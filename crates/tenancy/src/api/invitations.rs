//! Invitations and the audit trail.

use mesh::auth::OrganizationRole;
use mesh::peers::CallContext;
use mesh::time::now_millis;
use taskmesh::tenancy::v1::*;
use tonic::Request;

use mesh::paging::Keyset;

use super::{Result, TenancyApi, access_principal, convert, page_request, request_id};
use crate::domain::{self, TenancyError, filter};
use crate::store::{
    Acceptance, AuditRecord, Effects, INVITATIONS_ORDER, InvitationRecord,
    InvitationState as State, MembershipRecord,
};

/// Prefix of invitation tokens.
pub const INVITATION_TOKEN_PREFIX: &str = "tminv_";

pub(super) async fn create(
    api: &TenancyApi,
    request: Request<CreateInvitationRequest>,
) -> Result<CreateInvitationResponse> {
    let principal = mesh::auth::require_principal(&request)?.clone();
    let message = request.get_ref();
    let actor = api
        .writer_of(
            &principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Admin,
        )
        .await?;
    let email = domain::email("email", &message.email)?;
    let role =
        OrganizationRole::from_wire(message.role).ok_or_else(|| TenancyError::InvalidField {
            field: "role",
            description: "must be ADMIN, MEMBER or GUEST".into(),
        })?;
    let role = domain::invitable(role)?;
    let idempotency = domain::request_id(&message.request_id)?;
    let ttl_millis = match &message.ttl {
        Some(ttl)
            if ttl.seconds < 3_600 || ttl.seconds as u64 > api.config.max_invitation_ttl_secs =>
        {
            return Err(TenancyError::InvalidField {
                field: "ttl",
                description: format!(
                    "must be between 1 hour and {} seconds",
                    api.config.max_invitation_ttl_secs
                ),
            }
            .into());
        }
        Some(ttl) => ttl.seconds * 1_000,
        None => api.config.invitation_ttl_secs as i64 * 1_000,
    };
    let now = now_millis();
    let invitation = InvitationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: actor.organization_id,
        email,
        role,
        inviter_user_id: principal.user_id,
        request_id: idempotency.clone(),
        created_at: now,
        expires_at: now + ttl_millis,
        accepted_at: None,
        accepted_user_id: None,
        revoked_at: None,
    };
    let token = mesh::secrets::generate(INVITATION_TOKEN_PREFIX);
    let request_id = request_id(&request);
    let effects = Effects {
        audit: vec![AuditRecord::new(
            actor.organization_id,
            principal.user_id,
            "invitation.created",
            convert::invitation_resource(actor.organization_id, &invitation.id),
            &[
                ("email", invitation.email.clone()),
                ("role", role.to_string()),
            ],
            &request_id,
            now,
        )],
        events: vec![convert::invitation_created(
            &invitation,
            &token,
            &request_id,
        )],
    };
    let (organization_id, inviter) = (actor.organization_id, principal.user_id);
    let outcome = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move {
                store
                    .invitation_by_request(organization_id, inviter, &key)
                    .await
            }
        },
        || async {
            api.store
                .create_invitation(&invitation, &mesh::secrets::digest(&token), now, effects)
                .await
                .map(|()| invitation.clone())
        },
    )
    .await?;
    Ok(match outcome {
        kit::Outcome::Created(invitation) => CreateInvitationResponse {
            invitation: Some(convert::invitation(&invitation, now)),
            token,
        },
        // Only the digest is kept: a retry gets the invitation without its token.
        kit::Outcome::Replayed(existing) => CreateInvitationResponse {
            invitation: Some(convert::invitation(&existing, now)),
            token: String::new(),
        },
    })
}

pub(super) async fn list(
    api: &TenancyApi,
    request: Request<ListInvitationsRequest>,
) -> Result<ListInvitationsResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let message = request.get_ref();
    let actor = api
        .member_of(
            principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Admin,
        )
        .await?;
    let state =
        match InvitationState::try_from(message.state).unwrap_or(InvitationState::Unspecified) {
            InvitationState::Unspecified => None,
            InvitationState::Pending => Some(State::Pending),
            InvitationState::Accepted => Some(State::Accepted),
            InvitationState::Revoked => Some(State::Revoked),
            InvitationState::Expired => Some(State::Expired),
        };
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("invitations:{}:{}", actor.organization_id, message.state),
        INVITATIONS_ORDER,
    )?;
    let now = now_millis();
    let page = api
        .store
        .invitations(actor.organization_id, state, now, &page)
        .await?;
    Ok(ListInvitationsResponse {
        invitations: page
            .items
            .iter()
            .map(|invitation| convert::invitation(invitation, now))
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn revoke(
    api: &TenancyApi,
    request: Request<RevokeInvitationRequest>,
) -> Result<RevokeInvitationResponse> {
    let principal = mesh::auth::require_principal(&request)?.clone();
    principal.ensure_can_write()?;
    let actor = api
        .member_of_id(
            &principal,
            principal.organization()?,
            OrganizationRole::Admin,
        )
        .await?;
    let request_id = request_id(&request);
    let now = now_millis();
    let effects = |revoked: &InvitationRecord| Effects {
        audit: vec![AuditRecord::new(
            revoked.organization_id,
            principal.user_id,
            "invitation.revoked",
            convert::invitation_resource(revoked.organization_id, &revoked.id),
            &[("email", revoked.email.clone())],
            &request_id,
            now,
        )],
        events: vec![convert::invitation_revoked(
            revoked,
            principal.user_id,
            &request_id,
        )],
    };
    let revoked = match api
        .store
        .revoke_invitation(actor.organization_id, &request.get_ref().id, now, &effects)
        .await
    {
        Ok(revoked) => revoked,
        // Revoking twice succeeds and returns the invitation as it is.
        Err(TenancyError::InvitationRevoked) => api
            .store
            .invitation(actor.organization_id, &request.get_ref().id)
            .await?
            .ok_or(TenancyError::InvitationNotFound)?,
        Err(other) => return Err(other.into()),
    };
    Ok(RevokeInvitationResponse {
        invitation: Some(convert::invitation(&revoked, now)),
    })
}

pub(super) async fn accept(
    api: &TenancyApi,
    request: Request<AcceptInvitationRequest>,
) -> Result<AcceptInvitationResponse> {
    let principal = access_principal(&request)?.clone();
    let token = &request.get_ref().token;
    if !token.starts_with(INVITATION_TOKEN_PREFIX) {
        return Err(TenancyError::InvitationNotFound.into());
    }
    let hash = mesh::secrets::digest(token);
    let organization_id = api
        .store
        .invitation_organization(&hash)
        .await?
        .ok_or(TenancyError::InvitationNotFound)?;
    let caller = api
        .identity
        .caller(&CallContext::from_request(&request))
        .await?;
    let now = now_millis();
    let member = MembershipRecord {
        organization_id,
        user_id: principal.user_id,
        role: OrganizationRole::Guest,
        email: caller.email,
        display_name: caller.display_name,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let request_id = request_id(&request);
    let effects = |(invitation, membership): &Acceptance| Effects {
        audit: vec![
            AuditRecord::new(
                organization_id,
                principal.user_id,
                "invitation.accepted",
                convert::invitation_resource(organization_id, &invitation.id),
                &[("email", invitation.email.clone())],
                &request_id,
                now,
            ),
            AuditRecord::new(
                organization_id,
                principal.user_id,
                "member.added",
                convert::member_resource(organization_id, membership.user_id),
                &[
                    ("role", membership.role.to_string()),
                    ("invitation_id", invitation.id.clone()),
                ],
                &request_id,
                now,
            ),
        ],
        events: vec![
            convert::invitation_accepted(invitation, membership, &request_id),
            convert::member_added(membership, principal.user_id, &invitation.id, &request_id),
        ],
    };
    let (_, membership) = api
        .store
        .accept_invitation(organization_id, &hash, &member, now, &effects)
        .await?;
    let organization = api
        .store
        .organization(organization_id)
        .await?
        .ok_or(TenancyError::OrganizationNotFound)?;
    Ok(AcceptInvitationResponse {
        membership: Some(convert::membership(&membership)),
        organization: Some(convert::organization(&organization)),
    })
}

pub(super) async fn list_audit_events(
    api: &TenancyApi,
    request: Request<ListAuditEventsRequest>,
) -> Result<ListAuditEventsResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let message = request.get_ref();
    let actor = api
        .member_of(
            principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Admin,
        )
        .await?;
    let conditions = filter::parse(&message.filter)?;
    let order = match message.order_by.trim() {
        "" | "create_time desc" => Keyset::CREATED_DESCENDING,
        "create_time asc" | "create_time" => Keyset::CREATED_ASCENDING,
        other => {
            return Err(TenancyError::OrderByInvalid(format!(
                "unsupported {other:?}; use create_time desc or create_time asc"
            ))
            .into());
        }
    };
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("audit:{}:{}", actor.organization_id, message.filter.trim()),
        order,
    )?;
    let page = api
        .store
        .audit_events(actor.organization_id, &conditions, &page)
        .await?;
    Ok(ListAuditEventsResponse {
        audit_events: page.items.iter().map(convert::audit_event).collect(),
        next_page_token: page.next_page_token,
    })
}
