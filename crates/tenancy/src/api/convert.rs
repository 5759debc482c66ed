//! Records → protobuf messages; the audit entries and events of tenancy's changes.

use events::EventMessage;
use kit::Topic;
use mesh::ids::{OrganizationId, UserId};
use mesh::time::{optional_timestamp, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::tenancy::v1::{
    AuditEvent, Invitation, InvitationState as WireState, Membership, Organization,
};

pub(super) use mesh::request::etag;

use crate::events::*;
use crate::store::{
    AuditRecord, InvitationRecord, InvitationState, MembershipRecord, OrganizationRecord,
};

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

pub(super) fn membership(record: &MembershipRecord) -> Membership {
    Membership {
        organization_id: record.organization_id.to_string(),
        user_id: record.user_id.to_string(),
        role: record.role.to_wire(),
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
        role: record.role.to_wire(),
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
        organization_id: record
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        actor_user_id: record.actor_user_id.to_string(),
        action: record.action.clone(),
        resource: record.resource.clone(),
        details: serde_json::from_str(&record.details).unwrap_or_default(),
        request_id: record.request_id.clone(),
        create_time: Some(timestamp(record.created_at)),
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

fn event<P: prost::Name>(
    topic: Topic<P>,
    resource: String,
    payload: &P,
    organization_id: OrganizationId,
    actor: UserId,
    request_id: &str,
) -> EventMessage {
    topic
        .event(resource, payload)
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
        ORGANIZATION_CREATED,
        organization_resource(record.id),
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
        ORGANIZATION_UPDATED,
        organization_resource(id),
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
        MEMBER_ADDED,
        member_resource(record.organization_id, record.user_id),
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
        MEMBER_ROLE_CHANGED,
        member_resource(new.organization_id, new.user_id),
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
        MEMBER_REMOVED,
        member_resource(old.organization_id, old.user_id),
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
        INVITATION_CREATED,
        invitation_resource(record.organization_id, &record.id),
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
        INVITATION_ACCEPTED,
        invitation_resource(record.organization_id, &record.id),
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
        INVITATION_REVOKED,
        invitation_resource(record.organization_id, &record.id),
        &payload,
        record.organization_id,
        actor,
        request_id,
    )
}
