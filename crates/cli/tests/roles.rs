//! The tenancy role × RPC matrix (API_DESIGN.md, "Authorization matrix"), checked cell by
//! cell on the real mesh: an allowed cell must pass authorization (success, or a failure
//! that is not PERMISSION_DENIED), a denied cell must be PERMISSION_DENIED.

mod support;

use support::*;
use taskmesh::identity::v1::AuthTokens;
use taskmesh::tenancy::v1::{OrganizationRole as Role, *};
use tonic::Code;

const ROLES: [&str; 4] = ["owner", "admin", "member", "guest"];

/// (rpc, allowed for [owner, admin, member, guest]).
const MATRIX: &[(&str, [bool; 4])] = &[
    ("CreateOrganization", [true, true, true, true]),
    ("GetOrganization", [true, true, true, true]),
    ("UpdateOrganization.name", [true, true, false, false]),
    ("UpdateOrganization.slug", [true, false, false, false]),
    ("ListOrganizations", [true, true, true, true]),
    ("ResolveOrganization", [true, true, true, true]),
    ("ListMembers", [true, true, true, false]),
    ("GetMembership.other", [true, true, true, false]),
    ("GetMembership.self", [true, true, true, true]),
    ("UpdateMemberRole", [true, true, false, false]),
    ("RemoveMember.other", [true, true, false, false]),
    ("CreateInvitation", [true, true, false, false]),
    ("ListInvitations", [true, true, false, false]),
    ("RevokeInvitation", [true, true, false, false]),
    ("ListAuditEvents", [true, true, false, false]),
    // Answers service credentials only (links' share views), never a user.
    ("GetMemberDisplayNames", [false, false, false, false]),
];

struct Org {
    organization: Organization,
    owner_id: String,
    guest_id: String,
    tokens: Vec<AuthTokens>,
}

async fn call(mesh: &Mesh, org: &Org, rpc: &str, role_index: usize) -> Result<(), tonic::Status> {
    let token = &org.tokens[role_index].access_token;
    let id = org.organization.id.clone();
    let mut tenancy = mesh.tenancy();
    let unique = uuid::Uuid::now_v7().simple().to_string();
    match rpc {
        "CreateOrganization" => tenancy
            .create_organization(bearer(
                CreateOrganizationRequest {
                    name: "New".into(),
                    slug: format!("m-{}", &unique[20..]),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "GetOrganization" => tenancy
            .get_organization(bearer(GetOrganizationRequest { id }, token))
            .await
            .map(drop),
        "UpdateOrganization.name" | "UpdateOrganization.slug" => {
            let (path, organization) = if rpc.ends_with("name") {
                (
                    "name",
                    Organization {
                        id,
                        name: format!("Matrix {}", ROLES[role_index]),
                        ..Default::default()
                    },
                )
            } else {
                (
                    "slug",
                    Organization {
                        id,
                        slug: format!("matrix-{}", &unique[20..]),
                        ..Default::default()
                    },
                )
            };
            tenancy
                .update_organization(bearer(
                    UpdateOrganizationRequest {
                        organization: Some(organization),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec![path.into()],
                        }),
                    },
                    token,
                ))
                .await
                .map(drop)
        }
        "ListOrganizations" => tenancy
            .list_organizations(bearer(ListOrganizationsRequest::default(), token))
            .await
            .map(drop),
        "ResolveOrganization" => tenancy
            .resolve_organization(bearer(
                ResolveOrganizationRequest {
                    lookup: Some(resolve_organization_request::Lookup::Slug(
                        org.organization.slug.clone(),
                    )),
                },
                token,
            ))
            .await
            .map(drop),
        "GetMemberDisplayNames" => tenancy
            .get_member_display_names(bearer(
                GetMemberDisplayNamesRequest {
                    user_ids: vec![org.owner_id.clone()],
                },
                token,
            ))
            .await
            .map(drop),
        "ListMembers" => tenancy
            .list_members(bearer(
                ListMembersRequest {
                    organization_id: id,
                    page_size: 0,
                    page_token: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "GetMembership.other" => tenancy
            .get_membership(bearer(
                GetMembershipRequest {
                    organization_id: id,
                    user_id: org.owner_id.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        "GetMembership.self" => {
            let own = mesh
                .identity()
                .get_current_user(bearer(
                    taskmesh::identity::v1::GetCurrentUserRequest {},
                    token,
                ))
                .await?
                .into_inner()
                .user
                .unwrap()
                .id;
            tenancy
                .get_membership(bearer(
                    GetMembershipRequest {
                        organization_id: id,
                        user_id: own,
                    },
                    token,
                ))
                .await
                .map(drop)
        }
        "UpdateMemberRole" => tenancy
            .update_member_role(bearer(
                UpdateMemberRoleRequest {
                    organization_id: id,
                    user_id: org.guest_id.clone(),
                    role: Role::Guest as i32,
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "RemoveMember.other" => tenancy
            .remove_member(bearer(
                RemoveMemberRequest {
                    organization_id: id,
                    user_id: mesh::ids::UserId::new().to_string(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "CreateInvitation" => tenancy
            .create_invitation(bearer(
                CreateInvitationRequest {
                    organization_id: id,
                    email: format!("{unique}@example.com"),
                    role: Role::Guest as i32,
                    ttl: None,
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "ListInvitations" => tenancy
            .list_invitations(bearer(
                ListInvitationsRequest {
                    organization_id: id,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "RevokeInvitation" => tenancy
            .revoke_invitation(bearer(RevokeInvitationRequest { id: unique }, token))
            .await
            .map(drop),
        "ListAuditEvents" => tenancy
            .list_audit_events(bearer(
                ListAuditEventsRequest {
                    organization_id: id,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_cell_of_the_role_matrix_holds() {
    let mesh = Mesh::start().await;
    let (owner, owner_tokens) = mesh.sign_up("owner@example.com").await;
    let (organization, owner_scoped) = mesh.create_organization(&owner_tokens, "matrix").await;
    let mut tokens = vec![owner_scoped.clone()];
    let mut guest_id = String::new();
    for (name, role) in [
        ("admin", Role::Admin),
        ("member", Role::Member),
        ("guest", Role::Guest),
    ] {
        let email = format!("{name}@example.com");
        let (user, user_tokens) = mesh.sign_up(&email).await;
        tokens.push(
            mesh.invite_and_join(&owner_scoped, &organization.id, &email, role, &user_tokens)
                .await,
        );
        if name == "guest" {
            guest_id = user.id;
        }
    }
    let org = Org {
        organization,
        owner_id: owner.id,
        guest_id,
        tokens,
    };

    let mut checked = 0;
    for (rpc, allowed) in MATRIX {
        for (index, role) in ROLES.iter().enumerate() {
            let result = call(&mesh, &org, rpc, index).await;
            let denied = matches!(&result, Err(status) if status.code() == Code::PermissionDenied);
            if allowed[index] {
                assert!(!denied, "{rpc} must be allowed for {role}: {result:?}");
                if let Err(status) = &result {
                    assert_eq!(
                        status.code(),
                        Code::NotFound,
                        "{rpc} for {role} passed authorization but failed: {status:?}"
                    );
                }
            } else {
                assert!(denied, "{rpc} must be denied for {role}: {result:?}");
                let why = reason(result.as_ref().unwrap_err());
                assert!(
                    why == "ROLE_INSUFFICIENT" || why == "SERVICE_CREDENTIAL_REQUIRED",
                    "{rpc} for {role}: {why}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MATRIX.len() * ROLES.len());

    // Every TenancyService method appears in the matrix (AcceptInvitation is covered by the
    // journey: it needs an invitation, not a role).
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto/taskmesh/tenancy/v1/tenancy_service.proto"
    ))
    .unwrap();
    for line in file
        .lines()
        .filter_map(|line| line.trim().strip_prefix("rpc "))
    {
        let method = line.split('(').next().unwrap();
        assert!(
            method == "AcceptInvitation"
                || MATRIX
                    .iter()
                    .any(|(rpc, _)| rpc.split('.').next() == Some(method)),
            "{method} is missing from the role matrix"
        );
    }
    mesh.stop().await;
}
