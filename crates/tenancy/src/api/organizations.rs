//! Organizations and memberships.

use mesh::auth::OrganizationRole;
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::CallContext;
use mesh::time::now_millis;
use taskmesh::tenancy::v1::*;
use tonic::Request;

use mesh::request::{Updatable, expected_version, update_paths};

use super::{
    Result, TenancyApi, access_principal, convert, page_request, parse_organization, request_id,
};
use crate::domain::{self, TenancyError};
use crate::store::{
    AuditRecord, Effects, InvitationRecord, MEMBERS_ORDER, MembershipRecord, ORGANIZATIONS_ORDER,
    OrganizationRecord, Removal, RoleChange,
};

pub(super) async fn create(
    api: &TenancyApi,
    request: Request<CreateOrganizationRequest>,
) -> Result<CreateOrganizationResponse> {
    let principal = access_principal(&request)?.clone();
    let message = request.get_ref();
    let name = domain::organization_name("name", &message.name)?;
    let slug = domain::slug(&message.slug)?;
    let idempotency = domain::request_id(&message.request_id)?;
    let user_id = principal.user_id;
    let organization = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.organization_by_request(user_id, &key).await }
        },
        || async {
            let caller = api
                .identity
                .caller(&CallContext::from_request(&request))
                .await?;
            let now = now_millis();
            let organization = OrganizationRecord {
                id: OrganizationId::new(),
                name,
                slug,
                creator_user_id: principal.user_id,
                create_request_id: idempotency.clone(),
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let owner = MembershipRecord {
                organization_id: organization.id,
                user_id: principal.user_id,
                role: OrganizationRole::Owner,
                email: caller.email,
                display_name: caller.display_name,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let request_id = request_id(&request);
            let effects = Effects {
                audit: vec![
                    AuditRecord::new(
                        organization.id,
                        principal.user_id,
                        "organization.created",
                        convert::organization_resource(organization.id),
                        &[
                            ("slug", organization.slug.clone()),
                            ("name", organization.name.clone()),
                        ],
                        &request_id,
                        now,
                    ),
                    AuditRecord::new(
                        organization.id,
                        principal.user_id,
                        "member.added",
                        convert::member_resource(organization.id, principal.user_id),
                        &[("role", "owner".into())],
                        &request_id,
                        now,
                    ),
                ],
                events: vec![
                    convert::organization_created(&organization, &request_id),
                    convert::member_added(&owner, principal.user_id, "", &request_id),
                ],
            };
            api.store
                .create_organization(&organization, &owner, effects)
                .await?;
            Ok::<_, TenancyError>(organization)
        },
    )
    .await?
    .into_inner();
    Ok(CreateOrganizationResponse {
        organization: Some(convert::organization(&organization)),
    })
}

pub(super) async fn get(
    api: &TenancyApi,
    request: Request<GetOrganizationRequest>,
) -> Result<GetOrganizationResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let membership = api
        .member_of(
            principal,
            &request.get_ref().id,
            "id",
            OrganizationRole::Guest,
        )
        .await?;
    let organization = api
        .store
        .organization(membership.organization_id)
        .await?
        .ok_or(TenancyError::OrganizationNotFound)?;
    Ok(GetOrganizationResponse {
        organization: Some(convert::organization(&organization)),
    })
}

pub(super) async fn update(
    api: &TenancyApi,
    request: Request<UpdateOrganizationRequest>,
) -> Result<UpdateOrganizationResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let message = request.get_ref();
    let organization = message.organization.clone().unwrap_or_default();
    let membership = api
        .writer_of(
            principal,
            &organization.id,
            "organization.id",
            OrganizationRole::Admin,
        )
        .await?;
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("name", !organization.name.is_empty()),
            Updatable::new("slug", !organization.slug.is_empty()),
        ],
    )?;
    let expected = expected_version(domain::DOMAIN, &organization.etag)?;
    if paths.is_empty() {
        let current = api
            .store
            .organization(membership.organization_id)
            .await?
            .ok_or(TenancyError::OrganizationNotFound)?;
        return Ok(UpdateOrganizationResponse {
            organization: Some(convert::organization(&current)),
        });
    }
    let (mut name, mut slug) = (None, None);
    for path in &paths {
        match *path {
            "name" => {
                name = Some(domain::organization_name(
                    "organization.name",
                    &organization.name,
                )?)
            }
            "slug" => {
                if membership.role != OrganizationRole::Owner {
                    return Err(
                        TenancyError::RoleInsufficient("only owners change the slug").into(),
                    );
                }
                slug = Some(domain::slug(&organization.slug)?);
            }
            _ => unreachable!("update_paths returns only the paths listed"),
        }
    }
    let now = now_millis();
    let request_id = request_id(&request);
    let changed = paths;
    let effects = Effects {
        audit: vec![AuditRecord::new(
            membership.organization_id,
            principal.user_id,
            "organization.updated",
            convert::organization_resource(membership.organization_id),
            &[("fields", changed.join(","))],
            &request_id,
            now,
        )],
        events: vec![convert::organization_updated(
            membership.organization_id,
            principal.user_id,
            &changed,
            &request_id,
        )],
    };
    let updated = api
        .store
        .update_organization(
            membership.organization_id,
            name.as_deref(),
            slug.as_deref(),
            expected,
            now,
            effects,
        )
        .await?;
    Ok(UpdateOrganizationResponse {
        organization: Some(convert::organization(&updated)),
    })
}

pub(super) async fn list(
    api: &TenancyApi,
    request: Request<ListOrganizationsRequest>,
) -> Result<ListOrganizationsResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    if principal.token_kind == mesh::auth::TokenKind::PersonalAccessToken {
        // A personal access token is bound to one organization and sees only that one.
        let organization_id = principal.organization()?;
        let organization = api.store.organization(organization_id).await?;
        return Ok(ListOrganizationsResponse {
            organizations: organization.iter().map(convert::organization).collect(),
            next_page_token: String::new(),
        });
    }
    let message = request.get_ref();
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("organizations:{}", principal.user_id),
        ORGANIZATIONS_ORDER,
    )?;
    let page = api.store.organizations_of(principal.user_id, &page).await?;
    Ok(ListOrganizationsResponse {
        organizations: page.items.iter().map(convert::organization).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn resolve(
    api: &TenancyApi,
    request: Request<ResolveOrganizationRequest>,
) -> Result<ResolveOrganizationResponse> {
    let slug = match &request.get_ref().lookup {
        Some(resolve_organization_request::Lookup::Slug(slug)) => slug.trim().to_ascii_lowercase(),
        Some(resolve_organization_request::Lookup::HostName(host)) => {
            domain::slug_from_host(host, &api.config.base_domain)
                .ok_or(TenancyError::OrganizationNotFound)?
        }
        None => {
            return Err(TenancyError::InvalidField {
                field: "lookup",
                description: "set slug or host_name".into(),
            }
            .into());
        }
    };
    let (organization_id, name, slug) = api
        .store
        .resolve_slug(&slug)
        .await?
        .ok_or(TenancyError::OrganizationNotFound)?;
    Ok(ResolveOrganizationResponse {
        organization_id: organization_id.to_string(),
        name,
        slug,
    })
}

pub(super) async fn list_members(
    api: &TenancyApi,
    request: Request<ListMembersRequest>,
) -> Result<ListMembersResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let message = request.get_ref();
    let membership = api
        .member_of(
            principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Member,
        )
        .await?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("members:{}", membership.organization_id),
        MEMBERS_ORDER,
    )?;
    let page = api.store.members(membership.organization_id, &page).await?;
    Ok(ListMembersResponse {
        members: page.items.iter().map(convert::membership).collect(),
        next_page_token: page.next_page_token,
    })
}

/// Display names for a share link's page, answered to a service credential for tenancy only.
pub(super) async fn member_display_names(
    api: &TenancyApi,
    request: Request<GetMemberDisplayNamesRequest>,
) -> Result<GetMemberDisplayNamesResponse> {
    let caller = mesh::auth::require_service_caller(&request, "tenancy")?;
    let organization_id = caller.organization_id;
    let ids = &request.get_ref().user_ids;
    if ids.len() > 100 {
        return Err(TenancyError::InvalidField {
            field: "user_ids",
            description: "at most 100".into(),
        }
        .into());
    }
    let mut display_names = std::collections::HashMap::new();
    for id in ids {
        let user = parse_user("user_ids", id)?;
        if let Some(member) = api.store.membership(organization_id, user).await? {
            display_names.insert(id.clone(), member.display_name);
        }
    }
    Ok(GetMemberDisplayNamesResponse { display_names })
}

fn parse_user(field: &'static str, text: &str) -> Result<UserId> {
    mesh::request::parse_id(domain::DOMAIN, field, text)
}

pub(super) async fn get_membership(
    api: &TenancyApi,
    request: Request<GetMembershipRequest>,
) -> Result<GetMembershipResponse> {
    let principal = mesh::auth::require_principal(&request)?;
    let message = request.get_ref();
    let organization_id = parse_organization("organization_id", &message.organization_id)?;
    let user_id = parse_user("user_id", &message.user_id)?;
    // Anyone may ask about their own membership (identity does, as the user, when scoping
    // tokens); asking about others needs membership (member or above) in that organization.
    let membership = if user_id == principal.user_id {
        if principal.token_kind == mesh::auth::TokenKind::PersonalAccessToken {
            principal.ensure_organization(organization_id)?;
        }
        api.store.own_membership(organization_id, user_id).await?
    } else {
        api.member_of(
            principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Member,
        )
        .await?;
        api.store.membership(organization_id, user_id).await?
    };
    let membership = membership.ok_or(TenancyError::MemberNotFound)?;
    Ok(GetMembershipResponse {
        membership: Some(convert::membership(&membership)),
    })
}

pub(super) async fn update_member_role(
    api: &TenancyApi,
    request: Request<UpdateMemberRoleRequest>,
) -> Result<UpdateMemberRoleResponse> {
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
    let user_id = parse_user("user_id", &message.user_id)?;
    let role =
        OrganizationRole::from_wire(message.role).ok_or_else(|| TenancyError::InvalidField {
            field: "role",
            description: "must be OWNER, ADMIN, MEMBER or GUEST".into(),
        })?;
    let expected = expected_version(domain::DOMAIN, &message.etag)?;
    let target = api
        .store
        .membership(actor.organization_id, user_id)
        .await?
        .ok_or(TenancyError::MemberNotFound)?;
    domain::may_change_role(actor.role, target.role, role)?;
    // The decision above was made on this version of the target; pin it, so a concurrent
    // promotion to owner cannot slip under an admin's demotion.
    let expected = expected.or(Some(target.version));
    let request_id = request_id(&request);
    let now = now_millis();
    let effects = |change: &RoleChange| {
        let (old, new) = (&change.old, &change.new);
        let mut effects = Effects::none()
            .audit(AuditRecord::new(
                new.organization_id,
                principal.user_id,
                "member.role_changed",
                convert::member_resource(new.organization_id, new.user_id),
                &[
                    ("old_role", old.role.to_string()),
                    ("new_role", new.role.to_string()),
                ],
                &request_id,
                now,
            ))
            .event(convert::member_role_changed(
                old,
                new,
                principal.user_id,
                &request_id,
            ));
        effects.extend(invitations_revoked_with(
            &change.revoked_invitations,
            principal.user_id,
            "inviter_demoted",
            &request_id,
            now,
        ));
        effects
    };
    let updated = api
        .store
        .change_role(
            actor.organization_id,
            user_id,
            role,
            expected,
            now,
            &effects,
        )
        .await?;
    Ok(UpdateMemberRoleResponse {
        membership: Some(convert::membership(&updated)),
    })
}

pub(super) async fn remove_member(
    api: &TenancyApi,
    request: Request<RemoveMemberRequest>,
) -> Result<RemoveMemberResponse> {
    let principal = mesh::auth::require_principal(&request)?.clone();
    let message = request.get_ref();
    let actor = api
        .writer_of(
            &principal,
            &message.organization_id,
            "organization_id",
            OrganizationRole::Guest,
        )
        .await?;
    let user_id = parse_user("user_id", &message.user_id)?;
    let removing_self = user_id == principal.user_id;
    // Decide on the caller's role before looking at the target, so a guest cannot learn who
    // is a member from NOT_FOUND versus PERMISSION_DENIED.
    if !removing_self && !actor.role.at_least(OrganizationRole::Admin) {
        return Err(TenancyError::RoleInsufficient("only owners and admins remove others").into());
    }
    let expected = expected_version(domain::DOMAIN, &message.etag)?;
    let target = api
        .store
        .membership(actor.organization_id, user_id)
        .await?
        .ok_or(TenancyError::MemberNotFound)?;
    domain::may_remove(actor.role, removing_self, target.role)?;
    let expected = expected.or(Some(target.version));
    let request_id = request_id(&request);
    let now = now_millis();
    let effects = |removal: &Removal| {
        let old = &removal.member;
        let mut effects = Effects::none()
            .audit(AuditRecord::new(
                old.organization_id,
                principal.user_id,
                "member.removed",
                convert::member_resource(old.organization_id, old.user_id),
                &[("role", old.role.to_string())],
                &request_id,
                now,
            ))
            .event(convert::member_removed(old, principal.user_id, &request_id));
        effects.extend(invitations_revoked_with(
            &removal.revoked_invitations,
            principal.user_id,
            "inviter_removed",
            &request_id,
            now,
        ));
        effects
    };
    api.store
        .remove_member(actor.organization_id, user_id, expected, now, &effects)
        .await?;
    Ok(RemoveMemberResponse {})
}

/// The audit entries and events of invitations revoked because their inviter lost the
/// authority to make them.
fn invitations_revoked_with(
    revoked: &[InvitationRecord],
    actor: UserId,
    reason: &str,
    request_id: &str,
    now: i64,
) -> Effects {
    revoked.iter().fold(Effects::none(), |effects, invitation| {
        effects
            .audit(AuditRecord::new(
                invitation.organization_id,
                actor,
                "invitation.revoked",
                convert::invitation_resource(invitation.organization_id, &invitation.id),
                &[
                    ("email", invitation.email.clone()),
                    ("reason", reason.to_string()),
                ],
                request_id,
                now,
            ))
            .event(convert::invitation_revoked(invitation, actor, request_id))
    })
}
