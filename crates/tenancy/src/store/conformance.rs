//! The behaviour every [`TenancyStore`] must have, run against SQLite and PostgreSQL
//! (`tests/store.rs`; on PostgreSQL as a runtime role under row-level security).

use mesh::auth::OrganizationRole;
use mesh::ids::{OrganizationId, UserId};

use mesh::paging::{Keyset, PageRequest};

use super::*;
use crate::domain::TenancyError;
use crate::domain::filter::Condition;

fn organization(slug: &str, creator: UserId) -> OrganizationRecord {
    OrganizationRecord {
        id: OrganizationId::new(),
        name: "Acme".into(),
        slug: slug.into(),
        creator_user_id: creator,
        create_request_id: Some("create-1".into()),
        created_at: 1_000,
        updated_at: 1_000,
        version: 1,
    }
}

fn member(
    organization_id: OrganizationId,
    user_id: UserId,
    role: OrganizationRole,
    email: &str,
) -> MembershipRecord {
    MembershipRecord {
        organization_id,
        user_id,
        role,
        email: email.into(),
        display_name: "Someone".into(),
        created_at: 1_000,
        updated_at: 1_000,
        version: 1,
    }
}

fn slug() -> String {
    format!("org-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

fn audit(organization_id: OrganizationId, actor: UserId, action: &str, at: i64) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: Some(organization_id),
        actor_user_id: actor,
        action: action.into(),
        resource: format!("organizations/{organization_id}"),
        details: "{}".into(),
        request_id: "req".into(),
        created_at: at,
    }
}

fn invitation(
    organization_id: OrganizationId,
    inviter: UserId,
    email: &str,
    expires_at: i64,
) -> InvitationRecord {
    InvitationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id,
        email: email.into(),
        role: OrganizationRole::Member,
        inviter_user_id: inviter,
        request_id: None,
        created_at: 1_000,
        expires_at,
        accepted_at: None,
        accepted_user_id: None,
        revoked_at: None,
    }
}

/// Creates an organization owned by a fresh user; returns (organization, owner).
pub async fn seed(store: &dyn TenancyStore) -> (OrganizationRecord, MembershipRecord) {
    let owner_id = UserId::new();
    let org = organization(&slug(), owner_id);
    let owner = member(
        org.id,
        owner_id,
        OrganizationRole::Owner,
        "owner@example.com",
    );
    let effects = Effects {
        audit: vec![audit(org.id, owner_id, "organization.created", 1_000)],
        events: Vec::new(),
    };
    store
        .create_organization(&org, &owner, effects)
        .await
        .unwrap();
    (org, owner)
}

/// Runs every check.
pub async fn run(store: &dyn TenancyStore) {
    organizations(store).await;
    memberships(store).await;
    invitations(store).await;
    invitations_die_with_their_inviters_authority(store).await;
    audit_trail(store).await;
}

async fn organizations(store: &dyn TenancyStore) {
    let (org, owner) = seed(store).await;
    assert_eq!(store.organization(org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(
        store
            .organization_by_request(owner.user_id, "create-1")
            .await
            .unwrap(),
        Some(org.clone())
    );
    assert_eq!(
        store.resolve_slug(&org.slug).await.unwrap(),
        Some((org.id, org.name.clone(), org.slug.clone()))
    );
    let clash = organization(&org.slug, UserId::new());
    let clash_owner = member(
        clash.id,
        clash.creator_user_id,
        OrganizationRole::Owner,
        "x@example.com",
    );
    assert!(matches!(
        store
            .create_organization(&clash, &clash_owner, Effects::default())
            .await,
        Err(TenancyError::SlugTaken)
    ));

    let new_slug = slug();
    let updated = store
        .update_organization(
            org.id,
            Some("Acme Inc"),
            Some(&new_slug),
            Some(1),
            2_000,
            Effects::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.slug.as_str(),
            updated.version
        ),
        ("Acme Inc", new_slug.as_str(), 2)
    );
    assert_eq!(
        store.resolve_slug(&org.slug).await.unwrap(),
        None,
        "the old slug stops resolving"
    );
    assert_eq!(
        store.resolve_slug(&new_slug).await.unwrap().map(|r| r.0),
        Some(org.id)
    );
    assert!(matches!(
        store
            .update_organization(
                org.id,
                Some("Stale"),
                None,
                Some(1),
                3_000,
                Effects::default()
            )
            .await,
        Err(TenancyError::EtagMismatch)
    ));

    let (other, _) = seed(store).await;
    assert!(matches!(
        store
            .update_organization(
                org.id,
                None,
                Some(&other.slug),
                None,
                3_000,
                Effects::default()
            )
            .await,
        Err(TenancyError::SlugTaken)
    ));

    // A user's organizations, oldest first, paginated.
    let second = organization(&slug(), owner.user_id);
    let second = OrganizationRecord {
        created_at: 5_000,
        create_request_id: None,
        ..second
    };
    store
        .create_organization(
            &second,
            &member(
                second.id,
                owner.user_id,
                OrganizationRole::Owner,
                "owner@example.com",
            ),
            Effects::default(),
        )
        .await
        .unwrap();
    let first = PageRequest::first(1, ORGANIZATIONS_ORDER);
    let first_page = store.organizations_of(owner.user_id, &first).await.unwrap();
    assert_eq!(
        first_page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![org.id]
    );
    let next = store
        .organizations_of(
            owner.user_id,
            &first.next(&first_page.next_page_token).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        next.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    assert!(next.next_page_token.is_empty());
    assert!(
        store
            .organizations_of(UserId::new(), &PageRequest::first(5, ORGANIZATIONS_ORDER))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn memberships(store: &dyn TenancyStore) {
    let (org, owner) = seed(store).await;
    let no_effects_change = |_: &RoleChange| Effects::default();
    let no_effects = |_: &Removal| Effects::default();

    // The last owner can be neither demoted nor removed.
    assert!(matches!(
        store
            .change_role(
                org.id,
                owner.user_id,
                OrganizationRole::Admin,
                None,
                2_000,
                &no_effects_change
            )
            .await,
        Err(TenancyError::LastOwner)
    ));
    assert!(matches!(
        store
            .remove_member(org.id, owner.user_id, None, 9_000, &no_effects)
            .await,
        Err(TenancyError::LastOwner)
    ));

    // A second member joins through an invitation and becomes an owner; now either may go.
    let bea = UserId::new();
    let invite = invitation(org.id, owner.user_id, "bea@example.com", 10_000);
    store
        .create_invitation(&invite, b"invite-bea", 2_000, Effects::default())
        .await
        .unwrap();
    let joined = member(org.id, bea, OrganizationRole::Guest, "bea@example.com");
    let (_, membership) = store
        .accept_invitation(org.id, b"invite-bea", &joined, 3_000, &|_| {
            Effects::default()
        })
        .await
        .unwrap();
    assert_eq!(
        membership.role,
        OrganizationRole::Member,
        "the invitation's role, not the caller's guess"
    );
    assert_eq!(
        store.membership(org.id, bea).await.unwrap().map(|m| m.role),
        Some(OrganizationRole::Member)
    );
    assert_eq!(
        store
            .own_membership(org.id, bea)
            .await
            .unwrap()
            .map(|m| m.user_id),
        Some(bea)
    );

    assert!(matches!(
        store
            .change_role(
                org.id,
                bea,
                OrganizationRole::Owner,
                Some(99),
                4_000,
                &no_effects_change
            )
            .await,
        Err(TenancyError::EtagMismatch)
    ));
    let promoted = store
        .change_role(
            org.id,
            bea,
            OrganizationRole::Owner,
            Some(1),
            4_000,
            &no_effects_change,
        )
        .await
        .unwrap();
    assert_eq!(
        (promoted.role, promoted.version),
        (OrganizationRole::Owner, 2)
    );
    store
        .change_role(
            org.id,
            owner.user_id,
            OrganizationRole::Admin,
            None,
            5_000,
            &no_effects_change,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_member(org.id, bea, None, 9_000, &no_effects)
            .await,
        Err(TenancyError::LastOwner)
    ));

    let members = store
        .members(org.id, &PageRequest::first(10, MEMBERS_ORDER))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 2);
    let removed = store
        .remove_member(org.id, owner.user_id, None, 9_000, &no_effects)
        .await
        .unwrap();
    assert_eq!(removed.role, OrganizationRole::Admin);
    assert_eq!(store.membership(org.id, owner.user_id).await.unwrap(), None);
    assert!(matches!(
        store
            .remove_member(org.id, owner.user_id, None, 9_000, &no_effects)
            .await,
        Err(TenancyError::MemberNotFound)
    ));
    assert!(matches!(
        store
            .change_role(
                OrganizationId::new(),
                bea,
                OrganizationRole::Guest,
                None,
                1,
                &no_effects_change
            )
            .await,
        Err(TenancyError::OrganizationNotFound)
    ));
}

async fn invitations(store: &dyn TenancyStore) {
    let (org, owner) = seed(store).await;
    let now = 2_000;
    let ada = invitation(org.id, owner.user_id, "ada@example.com", now + 10_000);
    let ada = InvitationRecord {
        request_id: Some("invite-1".into()),
        ..ada
    };
    store
        .create_invitation(&ada, b"ada-token", now, Effects::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .invitation_by_request(org.id, owner.user_id, "invite-1")
            .await
            .unwrap()
            .map(|i| i.id),
        Some(ada.id.clone())
    );
    let again = invitation(org.id, owner.user_id, "ada@example.com", now + 10_000);
    assert!(matches!(
        store
            .create_invitation(&again, b"ada-2", now, Effects::default())
            .await,
        Err(TenancyError::InvitationPending)
    ));
    let owner_again = invitation(org.id, owner.user_id, "owner@example.com", now + 10_000);
    assert!(matches!(
        store
            .create_invitation(&owner_again, b"owner-2", now, Effects::default())
            .await,
        Err(TenancyError::AlreadyMember)
    ));
    assert_eq!(
        store.invitation_organization(b"ada-token").await.unwrap(),
        Some(org.id)
    );
    assert_eq!(
        store.invitation_organization(b"nothing").await.unwrap(),
        None
    );

    // Wrong email, then the right one; then the token is spent.
    let mallory = member(
        org.id,
        UserId::new(),
        OrganizationRole::Guest,
        "mallory@example.com",
    );
    assert!(matches!(
        store
            .accept_invitation(org.id, b"ada-token", &mallory, now + 1, &|_| {
                Effects::default()
            })
            .await,
        Err(TenancyError::InvitationEmailMismatch)
    ));
    let ada_user = member(
        org.id,
        UserId::new(),
        OrganizationRole::Guest,
        "ada@example.com",
    );
    store
        .accept_invitation(org.id, b"ada-token", &ada_user, now + 2, &|_| {
            Effects::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .accept_invitation(org.id, b"ada-token", &ada_user, now + 3, &|_| {
                Effects::default()
            })
            .await,
        Err(TenancyError::InvitationAlreadyAccepted)
    ));

    // Expired and revoked invitations cannot be accepted; only pending ones can be revoked.
    let late = invitation(org.id, owner.user_id, "late@example.com", now + 5);
    store
        .create_invitation(&late, b"late-token", now, Effects::default())
        .await
        .unwrap();
    let late_user = member(
        org.id,
        UserId::new(),
        OrganizationRole::Guest,
        "late@example.com",
    );
    assert!(matches!(
        store
            .accept_invitation(org.id, b"late-token", &late_user, now + 10, &|_| {
                Effects::default()
            })
            .await,
        Err(TenancyError::InvitationExpired)
    ));
    let gone = invitation(org.id, owner.user_id, "gone@example.com", now + 10_000);
    store
        .create_invitation(&gone, b"gone-token", now, Effects::default())
        .await
        .unwrap();
    let revoked = store
        .revoke_invitation(org.id, &gone.id, now + 1, &|_| Effects::default())
        .await
        .unwrap();
    assert_eq!(revoked.state(now + 1), InvitationState::Revoked);
    assert!(matches!(
        store
            .revoke_invitation(org.id, &gone.id, now + 2, &|_| Effects::default())
            .await,
        Err(TenancyError::InvitationRevoked)
    ));
    let gone_user = member(
        org.id,
        UserId::new(),
        OrganizationRole::Guest,
        "gone@example.com",
    );
    assert!(matches!(
        store
            .accept_invitation(org.id, b"gone-token", &gone_user, now + 3, &|_| {
                Effects::default()
            })
            .await,
        Err(TenancyError::InvitationRevoked)
    ));
    assert!(matches!(
        store
            .revoke_invitation(OrganizationId::new(), &ada.id, now, &|_| Effects::default())
            .await,
        Err(TenancyError::InvitationNotFound)
    ));

    let at = now + 20;
    let states = |state| async move {
        store
            .invitations(
                org.id,
                Some(state),
                at,
                &PageRequest::first(10, INVITATIONS_ORDER),
            )
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(states(InvitationState::Accepted).await, 1);
    assert_eq!(states(InvitationState::Expired).await, 1);
    assert_eq!(states(InvitationState::Revoked).await, 1);
    assert_eq!(states(InvitationState::Pending).await, 0);
    assert_eq!(
        store
            .invitations(org.id, None, at, &PageRequest::first(10, INVITATIONS_ORDER))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert_eq!(
        store
            .invitation(org.id, &ada.id)
            .await
            .unwrap()
            .map(|i| i.state(at)),
        Some(InvitationState::Accepted)
    );
}

/// An invitation is only as good as its inviter's authority: removing the inviter, or
/// demoting them below what they invited, revokes what they left pending, and acceptance
/// re-checks the inviter.
async fn invitations_die_with_their_inviters_authority(store: &dyn TenancyStore) {
    let (org, owner) = seed(store).await;
    let now = 2_000;
    let admin = UserId::new();
    let admin_member = MembershipRecord {
        role: OrganizationRole::Admin,
        ..member(org.id, admin, OrganizationRole::Admin, "admin@example.com")
    };
    let joined = |user: UserId, email: &str| member(org.id, user, OrganizationRole::Guest, email);
    let invite = |email: &str, role: OrganizationRole| InvitationRecord {
        role,
        ..invitation(org.id, admin, email, now + 10_000)
    };
    // The admin joins through an invitation of the owner's.
    let admin_invite = InvitationRecord {
        role: OrganizationRole::Admin,
        ..invitation(org.id, owner.user_id, "admin@example.com", now + 10_000)
    };
    store
        .create_invitation(&admin_invite, b"admin-invite", now, Effects::default())
        .await
        .unwrap();
    store
        .accept_invitation(org.id, b"admin-invite", &admin_member, now, &|_| {
            Effects::default()
        })
        .await
        .unwrap();

    // Demoted to member: the admin invitation dies, and so does the guest one (members
    // invite nobody).
    let as_admin = invite("second-admin@example.com", OrganizationRole::Admin);
    let as_guest = invite("guest@example.com", OrganizationRole::Guest);
    for (record, token) in [(&as_admin, &b"as-admin"[..]), (&as_guest, &b"as-guest"[..])] {
        store
            .create_invitation(record, token, now, Effects::default())
            .await
            .unwrap();
    }
    let revoked_with_the_change = std::sync::Mutex::new(Vec::new());
    store
        .change_role(
            org.id,
            admin,
            OrganizationRole::Member,
            None,
            now + 1,
            &|change: &RoleChange| {
                revoked_with_the_change.lock().unwrap().extend(
                    change
                        .revoked_invitations
                        .iter()
                        .map(|invitation| invitation.id.clone()),
                );
                Effects::default()
            },
        )
        .await
        .unwrap();
    let mut revoked = revoked_with_the_change.into_inner().unwrap();
    revoked.sort();
    let mut expected = vec![as_admin.id.clone(), as_guest.id.clone()];
    expected.sort();
    assert_eq!(revoked, expected);
    for record in [&as_admin, &as_guest] {
        let state = store
            .invitation(org.id, &record.id)
            .await
            .unwrap()
            .unwrap()
            .state(now + 2);
        assert_eq!(state, InvitationState::Revoked);
    }
    assert!(matches!(
        store
            .accept_invitation(
                org.id,
                b"as-admin",
                &joined(UserId::new(), "second-admin@example.com"),
                now + 2,
                &|_| Effects::default()
            )
            .await,
        Err(TenancyError::InvitationRevoked)
    ));

    // Promoted back, the admin invites again; removed, that invitation dies too.
    store
        .change_role(
            org.id,
            admin,
            OrganizationRole::Admin,
            None,
            now + 3,
            &|_| Effects::default(),
        )
        .await
        .unwrap();
    let later = invite("later@example.com", OrganizationRole::Member);
    store
        .create_invitation(&later, b"later", now + 3, Effects::default())
        .await
        .unwrap();
    store
        .remove_member(org.id, admin, None, now + 4, &|removal: &Removal| {
            assert_eq!(removal.revoked_invitations.len(), 1);
            Effects::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .accept_invitation(
                org.id,
                b"later",
                &joined(UserId::new(), "later@example.com"),
                now + 5,
                &|_| Effects::default()
            )
            .await,
        Err(TenancyError::InvitationRevoked)
    ));
}

async fn audit_trail(store: &dyn TenancyStore) {
    let (org, owner) = seed(store).await;
    let other_actor = UserId::new();
    let entries = [
        audit(org.id, owner.user_id, "member.added", 2_000),
        audit(org.id, other_actor, "member.removed", 3_000),
        audit(org.id, owner.user_id, "invitation.created", 4_000),
    ];
    let effects = Effects {
        audit: entries.to_vec(),
        events: Vec::new(),
    };
    store
        .update_organization(org.id, Some("Audited"), None, None, 5_000, effects)
        .await
        .unwrap();
    let all = store
        .audit_events(
            org.id,
            &[],
            &PageRequest::first(10, Keyset::CREATED_DESCENDING),
        )
        .await
        .unwrap();
    assert_eq!(
        all.items
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        [
            "invitation.created",
            "member.removed",
            "member.added",
            "organization.created"
        ]
    );
    let members = store
        .audit_events(
            org.id,
            &[Condition::ActionPrefix("member.".into())],
            &PageRequest::first(10, Keyset::CREATED_ASCENDING),
        )
        .await
        .unwrap();
    assert_eq!(
        members
            .items
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        ["member.added", "member.removed"]
    );
    let by_actor = store
        .audit_events(
            org.id,
            &[
                Condition::Actor(other_actor.to_string()),
                Condition::After(2_500, true),
            ],
            &PageRequest::first(10, Keyset::CREATED_DESCENDING),
        )
        .await
        .unwrap();
    assert_eq!(by_actor.items.len(), 1);
    let first = PageRequest::first(2, Keyset::CREATED_DESCENDING);
    let page = store.audit_events(org.id, &[], &first).await.unwrap();
    let rest = store
        .audit_events(org.id, &[], &first.next(&page.next_page_token).unwrap())
        .await
        .unwrap();
    assert_eq!(page.items.len() + rest.items.len(), 4);
    let (elsewhere, _) = seed(store).await;
    assert!(
        store
            .audit_events(
                elsewhere.id,
                &[Condition::Action("member.removed".into())],
                &PageRequest::first(10, Keyset::CREATED_DESCENDING)
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
