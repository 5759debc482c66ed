//! The events tenancy publishes: each subject bound to its payload message, in one place.

use kit::Topic;
use taskmesh::events::v1::{
    InvitationAccepted, InvitationCreated, InvitationRevoked, MemberAdded, MemberRemoved,
    MemberRoleChanged, OrganizationCreated, OrganizationUpdated,
};

/// An organization was created (with its first owner).
pub const ORGANIZATION_CREATED: Topic<OrganizationCreated> =
    Topic::new("taskmesh.tenancy.organization.created");
/// An organization's name or slug changed.
pub const ORGANIZATION_UPDATED: Topic<OrganizationUpdated> =
    Topic::new("taskmesh.tenancy.organization.updated");
/// Someone became a member.
pub const MEMBER_ADDED: Topic<MemberAdded> = Topic::new("taskmesh.tenancy.member.added");
/// A member's role changed.
pub const MEMBER_ROLE_CHANGED: Topic<MemberRoleChanged> =
    Topic::new("taskmesh.tenancy.member.role_changed");
/// A member left or was removed.
pub const MEMBER_REMOVED: Topic<MemberRemoved> = Topic::new("taskmesh.tenancy.member.removed");
/// An invitation was sent (the event carries the token, for the email).
pub const INVITATION_CREATED: Topic<InvitationCreated> =
    Topic::new("taskmesh.tenancy.invitation.created");
/// An invitation was accepted.
pub const INVITATION_ACCEPTED: Topic<InvitationAccepted> =
    Topic::new("taskmesh.tenancy.invitation.accepted");
/// An invitation was revoked.
pub const INVITATION_REVOKED: Topic<InvitationRevoked> =
    Topic::new("taskmesh.tenancy.invitation.revoked");
