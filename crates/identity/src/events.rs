//! The events identity publishes: each subject bound to its payload message, in one place.

use kit::Topic;
use taskmesh::events::v1::{
    CredentialRevoked, PasswordChanged, PasswordResetRequested, SessionRevoked, TokenReuseDetected,
    UserCreated,
};

/// An account was created.
pub const USER_CREATED: Topic<UserCreated> = Topic::new("taskmesh.identity.user.created");
/// A session ended before its time (logout, password change, reuse).
pub const SESSION_REVOKED: Topic<SessionRevoked> = Topic::new("taskmesh.identity.session.revoked");
/// A password was changed or reset.
pub const PASSWORD_CHANGED: Topic<PasswordChanged> =
    Topic::new("taskmesh.identity.user.password_changed");
/// A rotated refresh token was presented again: the session was ended.
pub const TOKEN_REUSE_DETECTED: Topic<TokenReuseDetected> =
    Topic::new("taskmesh.identity.session.token_reuse_detected");
/// A password reset was requested (the event carries the token, for the email).
pub const PASSWORD_RESET_REQUESTED: Topic<PasswordResetRequested> =
    Topic::new("taskmesh.identity.password_reset.requested");
/// A session or personal access token stopped working before its time; every process's
/// auth layer follows this subject.
pub const CREDENTIAL_REVOKED: Topic<CredentialRevoked> =
    Topic::new("taskmesh.identity.credential.revoked");
