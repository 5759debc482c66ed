//! Records → protobuf messages, and the events identity publishes.

use events::EventMessage;
use kit::Effects;
use mesh::auth::OrganizationRole;
use mesh::ids::{SessionId, UserId};
use mesh::time::{optional_timestamp, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::events::v1::credential_revoked::Credential;
use taskmesh::identity::v1::{
    PersonalAccessToken, PersonalAccessTokenScope, SecurityEvent, Session, User,
};

use crate::events::*;
use crate::store::{PersonalAccessTokenRecord, SessionRecord, UserRecord};

pub(super) fn user(record: &UserRecord) -> User {
    User {
        id: record.id.to_string(),
        email: record.email.clone(),
        display_name: record.display_name.clone(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) use mesh::request::etag;

pub(super) fn session(record: &SessionRecord, current: Option<SessionId>) -> Session {
    Session {
        id: record.id.to_string(),
        create_time: Some(timestamp(record.created_at)),
        last_used_time: Some(timestamp(record.last_used_at)),
        expire_time: Some(timestamp(
            record.idle_expires_at.min(record.absolute_expires_at),
        )),
        user_agent: record.user_agent.clone(),
        ip_address: record.ip_address.clone(),
        current: current == Some(record.id),
        organization_id: record
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// A token's role on the wire; UNSPECIFIED when the token is not scoped to an organization.
pub(super) fn role(role: Option<OrganizationRole>) -> i32 {
    role.map(OrganizationRole::to_wire).unwrap_or_default()
}

pub(super) fn personal_access_token(record: &PersonalAccessTokenRecord) -> PersonalAccessToken {
    let scope = match record.scope.as_str() {
        "read_only" => PersonalAccessTokenScope::ReadOnly,
        _ => PersonalAccessTokenScope::ReadWrite,
    };
    PersonalAccessToken {
        id: record.id.clone(),
        name: record.name.clone(),
        scope: scope as i32,
        organization_id: record.organization_id.to_string(),
        create_time: Some(timestamp(record.created_at)),
        expire_time: optional_timestamp(record.expires_at),
        last_used_time: optional_timestamp(record.last_used_at),
        token_prefix: record.token_prefix.clone(),
    }
}

fn user_resource(user_id: UserId) -> String {
    format!("users/{user_id}")
}

pub(super) fn session_resource(user_id: UserId, session_id: SessionId) -> String {
    format!("users/{user_id}/sessions/{session_id}")
}

pub(super) fn token_resource(user_id: UserId, token_id: &str) -> String {
    format!("users/{user_id}/personal_access_tokens/{token_id}")
}

/// A security-log entry on the wire; the client address and agent are kept in its details.
pub(super) fn security_event(record: &kit::AuditEntry) -> SecurityEvent {
    let mut details: std::collections::HashMap<String, String> =
        serde_json::from_str(&record.details).unwrap_or_default();
    SecurityEvent {
        id: record.id.clone(),
        action: record.action.clone(),
        resource: record.resource.clone(),
        ip_address: details.remove("ip_address").unwrap_or_default(),
        user_agent: details.remove("user_agent").unwrap_or_default(),
        details,
        create_time: Some(timestamp(record.created_at)),
    }
}

pub(super) fn user_created(record: &UserRecord) -> EventMessage {
    let payload = wire_events::UserCreated {
        user_id: record.id.to_string(),
        email: record.email.clone(),
        display_name: record.display_name.clone(),
    };
    USER_CREATED
        .event(user_resource(record.id), &payload)
        .user_actor(record.id)
        .build()
}

/// A session's end: `SessionRevoked` (why, for notifications) and `CredentialRevoked` (for
/// every process's auth layer).
pub(super) fn session_revoked(
    user_id: UserId,
    session_id: SessionId,
    reason: wire_events::SessionRevokeReason,
) -> Effects {
    let payload = wire_events::SessionRevoked {
        user_id: user_id.to_string(),
        session_id: session_id.to_string(),
        reason: reason as i32,
    };
    let revoked = SESSION_REVOKED
        .event(format!("users/{user_id}/sessions/{session_id}"), &payload)
        .user_actor(user_id)
        .build();
    Effects::none().event(revoked).event(credential_revoked(
        user_id,
        Credential::SessionId(session_id.to_string()),
    ))
}

/// A personal access token's revocation, for every process's auth layer.
pub(super) fn token_revoked(user_id: UserId, token_id: &str) -> Effects {
    Effects::none().event(credential_revoked(
        user_id,
        Credential::PersonalAccessTokenId(token_id.to_string()),
    ))
}

fn credential_revoked(user_id: UserId, credential: Credential) -> EventMessage {
    let payload = wire_events::CredentialRevoked {
        user_id: user_id.to_string(),
        credential: Some(credential),
    };
    CREDENTIAL_REVOKED
        .event(user_resource(user_id), &payload)
        .user_actor(user_id)
        .build()
}

pub(super) fn password_changed(user_id: UserId, via_password_reset: bool) -> EventMessage {
    let payload = wire_events::PasswordChanged {
        user_id: user_id.to_string(),
        via_password_reset,
    };
    PASSWORD_CHANGED
        .event(user_resource(user_id), &payload)
        .user_actor(user_id)
        .build()
}

/// What a password change or reset writes: the change, and each session it ended.
/// What a password change or reset writes: the change, each session it ended and each
/// personal access token it revoked.
pub(super) fn password_changed_effects(
    user_id: UserId,
    via_password_reset: bool,
    revoked_sessions: &[SessionId],
    revoked_tokens: &[String],
) -> Effects {
    let mut effects = Effects::none().event(password_changed(user_id, via_password_reset));
    for session in revoked_sessions {
        effects.extend(session_revoked(
            user_id,
            *session,
            wire_events::SessionRevokeReason::PasswordChanged,
        ));
    }
    for token in revoked_tokens {
        effects.extend(token_revoked(user_id, token));
    }
    effects
}

pub(super) fn token_reuse_detected(session: &SessionRecord) -> EventMessage {
    let payload = wire_events::TokenReuseDetected {
        user_id: session.user_id.to_string(),
        session_id: session.id.to_string(),
        ip_address: session.ip_address.clone(),
        user_agent: session.user_agent.clone(),
    };
    TOKEN_REUSE_DETECTED
        .event(
            format!("users/{}/sessions/{}", session.user_id, session.id),
            &payload,
        )
        .service_actor("identity")
        .build()
}

pub(super) fn password_reset_requested(
    user: &UserRecord,
    reset_token: &str,
    expires_at: i64,
) -> EventMessage {
    let payload = wire_events::PasswordResetRequested {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        reset_token: reset_token.to_string(),
        expire_time: Some(timestamp(expires_at)),
    };
    PASSWORD_RESET_REQUESTED
        .event(user_resource(user.id), &payload)
        .service_actor("identity")
        .build()
}
