//! Records → protobuf messages; audit entries and events of tenancy's changes.

use std::collections::BTreeMap;

use events::{EventBuilder, EventMessage};
use mesh::auth::OrganizationRole;
use mesh::ids::{OrganizationId, UserId};
use mesh::time::{optional_timestamp, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::tenancy::v1::{
    AuditEvent, Invitation, InvitationState as WireState, Membership, Organization,
    OrganizationRole as WireRole,
};

use crate::store::{
    AuditRecord, InvitationRecord, InvitationState, MembershipRecord, OrganizationRecord,
};

pub(super) use mesh::validate::{etag, parse_etag};

pub(super) fn organization(record: &OrganizationRecord) -> Organization {
    Organization {
        id: record.id.to_string(),
        name: record.name.clone(),
        slug: record.slug.clone(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn role(role: OrganizationRole) -> i32 {
    (match role {
        OrganizationRole::Owner => WireRole::Owner,
        OrganizationRole::Admin => WireRole::Admin,
        OrganizationRole::Member => WireRole::Member,
        OrganizationRole::Guest => WireRole::Guest,
    }) as i32
}

pub(super) fn parse_role(value: i32) -> Option<OrganizationRole> {
    match WireRole::try_from(value).ok()? {
        WireRole::Owner => Some(OrganizationRole::Owner),
        WireRole::Admin => Some(OrganizationRole::Admin),
        WireRole::Member => Some(OrganizationRole::Member),
        WireRole::Guest => Some(OrganizationRole::Guest),
        WireRole::Unspecified => None,
    }
}

pub(super) fn membership(record: &MembershipRecord) -> Membership {
    Membership {
        organization_id: record.organization_id.to_string(),
        user_id: record.user_id.to_string(),
        role: role(record.role),
        email: record.email.clone(),
        display_name: record.display_name.clone(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn state(state: InvitationState) -> WireState {
    match state {
        InvitationState::Pending => WireState::Pending,
        InvitationState::Accepted => WireState::Accepted,
        InvitationState::Revoked => WireState::Revoked,
        InvitationState::Expired => WireState::Expired,
    }
}

pub(super) fn invitation(record: &InvitationRecord, now: i64) -> Invitation {
    Invitation {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        email: record.email.clone(),
        role: role(record.role),
        state: state(record.state(now)) as i32,
        inviter_user_id: record.inviter_user_id.to_string(),
        create_time: Some(timestamp(record.created_at)),
        expire_time: Some(timestamp(record.expires_at)),
        accept_time: optional_timestamp(record.accepted_at),
    }
}

pub(super) fn audit_event(record: &AuditRecord) -> AuditEvent {
    AuditEvent {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        actor_user_id: record.actor_user_id.to_string(),
        action: record.action.clone(),
        resource: record.resource.clone(),
        details: serde_json::from_str(&record.details).unwrap_or_default(),
        request_id: record.request_id.clone(),
        create_time: Some(timestamp(record.created_at)),
    }
}

/// An audit entry.
pub(super) fn audit(
    organization_id: OrganizationId,
    actor: UserId,
    action: &str,
    resource: String,
    details: &[(&str, String)],
    request_id: &str,
    now: i64,
) -> AuditRecord {
    let details: BTreeMap<&str, &String> =
        details.iter().map(|(key, value)| (*key, value)).collect();
    AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id,
        actor_user_id: actor,
        action: action.into(),
        resource,
        details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".into()),
        request_id: request_id.into(),
        created_at: now,
    }
}

pub(super) fn organization_resource(id: OrganizationId) -> String {
    format!("organizations/{id}")
}

pub(super) fn member_resource(organization_id: OrganizationId, user_id: UserId) -> String {
    format!("organizations/{organization_id}/members/{user_id}")
}

pub(super) fn invitation_resource(organization_id: OrganizationId, id: &str) -> String {
    format!("organizations/{organization_id}/invitations/{id}")
}

fn event(
    subject: &str,
    resource: String,
    payload_type: &str,
    payload: &impl prost::Message,
    organization_id: OrganizationId,
    actor: UserId,
    request_id: &str,
) -> EventMessage {
    EventBuilder::new(subject, resource, payload_type, payload)
        .tenant(organization_id)
        .user_actor(actor)
        .request_id(request_id)
        .build()
}

pub(super) fn organization_created(record: &OrganizationRecord, request_id: &str) -> EventMessage {
    let payload = wire_events::OrganizationCreated {
        organization_id: record.id.to_string(),
        name: record.name.clone(),
        slug: record.slug.clone(),
        owner_user_id: record.creator_user_id.to_string(),
    };
    event(
        "taskmesh.tenancy.organization.created",
        organization_resource(record.id),
        "taskmesh.events.v1.OrganizationCreated",
        &payload,
        record.id,
        record.creator_user_id,
        request_id,
    )
}

pub(super) fn organization_updated(
    id: OrganizationId,
    actor: UserId,
    changed: &[&str],
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::OrganizationUpdated {
        organization_id: id.to_string(),
        changed_fields: changed
            .iter()
            .map(|field| wire_events::FieldChange {
                field: (*field).into(),
                old_value: None,
                new_value: None,
                values_omitted: true,
            })
            .collect(),
    };
    event(
        "taskmesh.tenancy.organization.updated",
        organization_resource(id),
        "taskmesh.events.v1.OrganizationUpdated",
        &payload,
        id,
        actor,
        request_id,
    )
}

pub(super) fn member_added(
    record: &MembershipRecord,
    actor: UserId,
    invitation_id: &str,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::MemberAdded {
        organization_id: record.organization_id.to_string(),
        user_id: record.user_id.to_string(),
        role: record.role.to_string(),
        invitation_id: invitation_id.into(),
    };
    event(
        "taskmesh.tenancy.member.added",
        member_resource(record.organization_id, record.user_id),
        "taskmesh.events.v1.MemberAdded",
        &payload,
        record.organization_id,
        actor,
        request_id,
    )
}

pub(super) fn member_role_changed(
    old: &MembershipRecord,
    new: &MembershipRecord,
    actor: UserId,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::MemberRoleChanged {
        organization_id: new.organization_id.to_string(),
        user_id: new.user_id.to_string(),
        old_role: old.role.to_string(),
        new_role: new.role.to_string(),
    };
    event(
        "taskmesh.tenancy.member.role_changed",
        member_resource(new.organization_id, new.user_id),
        "taskmesh.events.v1.MemberRoleChanged",
        &payload,
        new.organization_id,
        actor,
        request_id,
    )
}

pub(super) fn member_removed(
    old: &MembershipRecord,
    actor: UserId,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::MemberRemoved {
        organization_id: old.organization_id.to_string(),
        user_id: old.user_id.to_string(),
        role: old.role.to_string(),
    };
    event(
        "taskmesh.tenancy.member.removed",
        member_resource(old.organization_id, old.user_id),
        "taskmesh.events.v1.MemberRemoved",
        &payload,
        old.organization_id,
        actor,
        request_id,
    )
}

pub(super) fn invitation_created(
    record: &InvitationRecord,
    token: &str,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::InvitationCreated {
        invitation_id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        email: record.email.clone(),
        role: record.role.to_string(),
        expire_time: Some(timestamp(record.expires_at)),
        invite_token: token.into(),
        inviter_user_id: record.inviter_user_id.to_string(),
        invitee_user_id: String::new(),
    };
    event(
        "taskmesh.tenancy.invitation.created",
        invitation_resource(record.organization_id, &record.id),
        "taskmesh.events.v1.InvitationCreated",
        &payload,
        record.organization_id,
        record.inviter_user_id,
        request_id,
    )
}

pub(super) fn invitation_accepted(
    record: &InvitationRecord,
    member: &MembershipRecord,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::InvitationAccepted {
        invitation_id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        user_id: member.user_id.to_string(),
        email: record.email.clone(),
        role: record.role.to_string(),
        inviter_user_id: record.inviter_user_id.to_string(),
    };
    event(
        "taskmesh.tenancy.invitation.accepted",
        invitation_resource(record.organization_id, &record.id),
        "taskmesh.events.v1.InvitationAccepted",
        &payload,
        record.organization_id,
        member.user_id,
        request_id,
    )
}

pub(super) fn invitation_revoked(
    record: &InvitationRecord,
    actor: UserId,
    request_id: &str,
) -> EventMessage {
    let payload = wire_events::InvitationRevoked {
        invitation_id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        email: record.email.clone(),
    };
    event(
        "taskmesh.tenancy.invitation.revoked",
        invitation_resource(record.organization_id, &record.id),
        "taskmesh.events.v1.InvitationRevoked",
        &payload,
        record.organization_id,
        actor,
        request_id,
    )
}
