//! The caller's own account: profile, password, password reset.

use kit::Effects;
use mesh::error::ServiceError;
use mesh::request::{Updatable, expected_version, update_paths};
use mesh::time::now_millis;
use taskmesh::identity::v1::*;
use tonic::Request;

use super::{IdentityApi, client_of, convert, security_event};
use crate::domain::secrets::{self, RESET_TOKEN_PREFIX};
use crate::domain::{self, IdentityError, password};
use crate::store::PasswordReset;
use crate::throttle::Key;

/// Reset requests per email before delays start.
const RESETS_PER_ACCOUNT_BEFORE_DELAY: u32 = 3;
/// Reset requests, or bad reset tokens, per client address before delays start.
const RESETS_PER_ADDRESS_BEFORE_DELAY: u32 = 20;

type Result<T> = std::result::Result<T, ServiceError>;

pub(super) async fn get_current_user(
    api: &IdentityApi,
    request: Request<GetCurrentUserRequest>,
) -> Result<GetCurrentUserResponse> {
    let principal = api.live_principal(&request).await?;
    let user = api
        .store
        .user_by_id(principal.user_id)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    Ok(GetCurrentUserResponse {
        user: Some(convert::user(&user)),
    })
}

pub(super) async fn update_current_user(
    api: &IdentityApi,
    request: Request<UpdateCurrentUserRequest>,
) -> Result<UpdateCurrentUserResponse> {
    let principal = api.live_principal(&request).await?;
    principal.ensure_can_write()?;
    let message = request.get_ref();
    let user = message.user.clone().unwrap_or_default();
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[Updatable::new(
            "display_name",
            !user.display_name.is_empty(),
        )],
    )?;
    let expected = expected_version(domain::DOMAIN, &user.etag)?;
    let current = api
        .store
        .user_by_id(principal.user_id)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    if paths.is_empty() {
        return Ok(UpdateCurrentUserResponse {
            user: Some(convert::user(&current)),
        });
    }
    let name = domain::display_name("user.display_name", &user.display_name)?;
    let updated = api
        .store
        .update_display_name(principal.user_id, &name, expected, now_millis())
        .await?;
    Ok(UpdateCurrentUserResponse {
        user: Some(convert::user(&updated)),
    })
}

pub(super) async fn change_password(
    api: &IdentityApi,
    request: Request<ChangePasswordRequest>,
) -> Result<ChangePasswordResponse> {
    let (principal, session) = api.session_principal(&request).await?;
    let message = request.get_ref();
    let key = Key::new(
        format!("change-password:{}", principal.user_id),
        api.config.login_failures_before_delay,
    );
    let in_flight = api.throttle.check(&[&key]).await?;
    let user = api
        .store
        .user_by_id(principal.user_id)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    let verified = api
        .hasher
        .verify(&message.current_password, Some(&user.password_hash))
        .await
        .map_err(crate::domain::IdentityError::from)?;
    drop(in_flight);
    if !verified {
        api.throttle.failed(&[&key]).await?;
        return Err(IdentityError::WrongCurrentPassword.into());
    }
    api.throttle.succeeded(&key).await?;
    password::check_policy(&message.new_password)
        .map_err(|error| error.for_field("new_password"))?;
    let hash = api
        .hasher
        .hash(&message.new_password)
        .await
        .map_err(crate::domain::IdentityError::from)?;
    let user_id = principal.user_id;
    let events = |revoked: &Vec<mesh::ids::SessionId>| {
        convert::password_changed_effects(user_id, false, revoked, &[]).audit(security_event(
            &request,
            user_id,
            "password.changed",
            format!("users/{user_id}"),
            &[("revoked_sessions", revoked.len().to_string())],
        ))
    };
    api.store
        .set_password(
            user_id,
            &hash,
            Some(session.id),
            "password_changed",
            now_millis(),
            &events,
        )
        .await?;
    Ok(ChangePasswordResponse {})
}

pub(super) async fn request_password_reset(
    api: &IdentityApi,
    request: Request<RequestPasswordResetRequest>,
) -> Result<RequestPasswordResetResponse> {
    let email = domain::normalize_email("email", &request.get_ref().email)?;
    let (_, ip) = client_of(&request);
    let account = Key::new(format!("reset:{email}"), RESETS_PER_ACCOUNT_BEFORE_DELAY);
    let address = Key::new(format!("reset-ip:{ip}"), RESETS_PER_ADDRESS_BEFORE_DELAY);
    // Every request counts, found or not: the throttle cannot be used to probe either.
    let _in_flight = api.throttle.check(&[&account, &address]).await?;
    api.throttle.failed(&[&account, &address]).await?;
    if let Some(user) = api.store.user_by_email(&email).await? {
        let token = secrets::generate(RESET_TOKEN_PREFIX);
        let now = now_millis();
        let expires_at = now + (api.config.password_reset_ttl_secs as i64) * 1_000;
        let event = convert::password_reset_requested(&user, &token, expires_at);
        api.store
            .create_password_reset(
                user.id,
                &secrets::digest(&token),
                expires_at,
                now,
                Effects::none().event(event),
            )
            .await?;
    }
    Ok(RequestPasswordResetResponse {})
}

pub(super) async fn reset_password(
    api: &IdentityApi,
    request: Request<ResetPasswordRequest>,
) -> Result<ResetPasswordResponse> {
    let (_, ip) = client_of(&request);
    let address = Key::new(
        format!("reset-password-ip:{ip}"),
        RESETS_PER_ADDRESS_BEFORE_DELAY,
    );
    let in_flight = api.throttle.check(&[&address]).await?;
    let message = request.get_ref();
    let digest = secrets::digest(&message.reset_token);
    // Check the token before paying for argon2: bad tokens cost a lookup, not a hash, and
    // count against the source.
    if !message.reset_token.starts_with(RESET_TOKEN_PREFIX)
        || api
            .store
            .password_reset_user(&digest, now_millis())
            .await?
            .is_none()
    {
        api.throttle.failed(&[&address]).await?;
        return Err(IdentityError::ResetTokenInvalid.into());
    }
    drop(in_flight);
    password::check_policy(&message.new_password)
        .map_err(|error| error.for_field("new_password"))?;
    let hash = api
        .hasher
        .hash(&message.new_password)
        .await
        .map_err(crate::domain::IdentityError::from)?;
    let events = |reset: &PasswordReset| {
        convert::password_changed_effects(
            reset.user_id,
            true,
            &reset.revoked_sessions,
            &reset.revoked_tokens,
        )
        .audit(security_event(
            &request,
            reset.user_id,
            "password.reset",
            format!("users/{}", reset.user_id),
            &[
                ("revoked_sessions", reset.revoked_sessions.len().to_string()),
                (
                    "revoked_personal_access_tokens",
                    reset.revoked_tokens.len().to_string(),
                ),
            ],
        ))
    };
    api.store
        .reset_password(
            &digest,
            &hash,
            message.keep_personal_access_tokens,
            now_millis(),
            &events,
        )
        .await?
        .ok_or(IdentityError::ResetTokenInvalid)?;
    Ok(ResetPasswordResponse {})
}
