//! Sign-up, login, refresh, logout, sessions, organization switching.

use kit::Effects;
use mesh::auth::{AccessClaims, OrganizationRole};
use mesh::error::ServiceError;
use mesh::ids::{OrganizationId, SessionId, UserId};
use mesh::peers::CallContext;
use mesh::time::{now_millis, timestamp};
use taskmesh::events::v1::SessionRevokeReason;
use taskmesh::identity::v1::*;
use tonic::Request;

use super::{IdentityApi, client_of, convert, own_page, security_event};
use crate::domain::secrets::{self, REFRESH_TOKEN_PREFIX};
use crate::domain::{self, IdentityError, password};
use crate::store::{RefreshOutcome, SessionRecord, UserRecord};
use crate::tenancy::parse_role;
use crate::throttle::Key;

type Result<T> = std::result::Result<T, ServiceError>;

/// Signs an access token for `session` and returns the token pair.
async fn tokens(
    api: &IdentityApi,
    session: &SessionRecord,
    refresh_token: String,
) -> Result<AuthTokens> {
    let now = now_millis();
    let seconds = (now / 1_000) as u64;
    let expires = seconds + api.config.access_token_ttl_secs;
    let claims = AccessClaims {
        iss: api.auth.issuer.clone(),
        aud: api.auth.audience.clone(),
        sub: session.user_id.to_string(),
        org: session.organization_id.map(|id| id.to_string()),
        role: session.organization_id.and(session.role.clone()),
        typ: "access".into(),
        iat: seconds,
        nbf: seconds,
        exp: expires,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: Some(session.id.to_string()),
    };
    let access_token = api
        .keys
        .current()
        .await
        .sign(&claims)
        .map_err(|error| IdentityError::Internal(error.to_string()))?;
    Ok(AuthTokens {
        access_token,
        access_token_expire_time: Some(timestamp(expires as i64 * 1_000)),
        refresh_token,
        refresh_token_expire_time: Some(timestamp(
            session.idle_expires_at.min(session.absolute_expires_at),
        )),
        session_id: session.id.to_string(),
        token_type: "Bearer".into(),
        organization_id: session
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        role: convert::role(
            session
                .organization_id
                .and(parse_role(session.role.as_deref())),
        ),
    })
}

/// Starts a session for `user`, optionally scoped to an organization.
async fn start_session<T>(
    api: &IdentityApi,
    request: &Request<T>,
    user: &UserRecord,
    scope: Option<(OrganizationId, OrganizationRole)>,
) -> Result<AuthTokens> {
    let now = now_millis();
    let (user_agent, ip_address) = client_of(request);
    let session = SessionRecord {
        id: SessionId::new(),
        user_id: user.id,
        organization_id: scope.map(|(organization, _)| organization),
        role: scope.map(|(_, role)| role.to_string()),
        user_agent,
        ip_address,
        created_at: now,
        last_used_at: now,
        idle_expires_at: now + (api.config.refresh_idle_ttl_secs as i64) * 1_000,
        absolute_expires_at: now + (api.config.refresh_absolute_ttl_secs as i64) * 1_000,
        revoked_at: None,
        revoke_reason: None,
    };
    let refresh = secrets::generate(REFRESH_TOKEN_PREFIX);
    let signed_in = security_event(
        request,
        user.id,
        "session.signed_in",
        convert::session_resource(user.id, session.id),
        &[],
    );
    api.store
        .create_session(
            &session,
            &secrets::digest(&refresh),
            Effects::none().audit(signed_in),
        )
        .await?;
    tokens(api, &session, refresh).await
}

/// The caller's role in `organization_id`, or NOT_FOUND when not a member.
async fn membership(
    api: &IdentityApi,
    context: &CallContext,
    user_id: UserId,
    organization_id: OrganizationId,
) -> Result<(OrganizationId, OrganizationRole)> {
    match api.tenancy.role(context, user_id, organization_id).await? {
        Some(role) => Ok((organization_id, role)),
        None => Err(IdentityError::OrganizationNotFound.into()),
    }
}

fn organization_id(field: &'static str, text: &str) -> Result<OrganizationId> {
    mesh::request::parse_id(domain::DOMAIN, field, text)
}

pub(super) async fn sign_up(
    api: &IdentityApi,
    request: Request<SignUpRequest>,
) -> Result<SignUpResponse> {
    let message = request.get_ref();
    let email = domain::normalize_email("email", &message.email)?;
    let display_name = domain::display_name("display_name", &message.display_name)?;
    let request_id = domain::request_id(&message.request_id)?;
    password::check_policy(&message.password)?;
    let (_, ip) = client_of(&request);
    let signups = Key::new(
        format!("signup-ip:{ip}"),
        api.config.signups_per_address_before_delay,
    );
    // A retried SignUp (same request_id) returns the account it created, also when the
    // retries race (kit::create_once).
    let outcome = kit::create_once(
        request_id.as_deref(),
        |key| {
            let (store, email) = (api.store.clone(), email.clone());
            async move {
                Ok(store
                    .user_by_email(&email)
                    .await?
                    .filter(|user| user.signup_request_id.as_deref() == Some(key.as_str())))
            }
        },
        || async {
            if api.store.user_by_email(&email).await?.is_some() {
                return Err(IdentityError::EmailTaken);
            }
            // Every new account counts against its address: a flood of sign-ups from one
            // place is slowed down like a flood of failed logins.
            let _in_flight = api.throttle.check(&[&signups]).await?;
            api.throttle.failed(&[&signups]).await?;
            let now = now_millis();
            let user = UserRecord {
                id: UserId::new(),
                email: email.clone(),
                display_name: display_name.clone(),
                password_hash: api.hasher.hash(&message.password).await?,
                signup_request_id: request_id.clone(),
                created_at: now,
                updated_at: now,
                version: 1,
            };
            api.store
                .create_user(&user, Effects::none().event(convert::user_created(&user)))
                .await?;
            Ok(user)
        },
    )
    .await?;
    let user = match outcome {
        kit::Outcome::Created(user) => user,
        kit::Outcome::Replayed(existing) => {
            // Checking the retry's password is a login: it is throttled like one, per
            // account and per address, and a wrong one answers like any taken email.
            let (account, address) = (api.login_key(&email), api.login_address_key(&ip));
            let in_flight = api.throttle.check(&[&account, &address]).await?;
            let verified = api
                .hasher
                .verify(&message.password, Some(&existing.password_hash))
                .await
                .map_err(crate::domain::IdentityError::from)?;
            drop(in_flight);
            if !verified {
                api.throttle.failed(&[&account, &address]).await?;
                return Err(IdentityError::EmailTaken.into());
            }
            api.throttle.succeeded(&account).await?;
            existing
        }
    };
    let tokens = start_session(api, &request, &user, None).await?;
    Ok(SignUpResponse {
        user: Some(convert::user(&user)),
        tokens: Some(tokens),
    })
}

pub(super) async fn login(
    api: &IdentityApi,
    request: Request<LoginRequest>,
) -> Result<LoginResponse> {
    let context = CallContext::from_request(&request);
    let message = request.get_ref();
    let email = domain::normalize_email("email", &message.email)?;
    let (_, ip) = client_of(&request);
    let (account, address) = (api.login_key(&email), api.login_address_key(&ip));
    let in_flight = api.throttle.check(&[&account, &address]).await?;
    let user = api.store.user_by_email(&email).await?;
    let verified = api
        .hasher
        .verify(
            &message.password,
            user.as_ref().map(|user| user.password_hash.as_str()),
        )
        .await
        .map_err(crate::domain::IdentityError::from)?;
    drop(in_flight);
    let Some(user) = user.filter(|_| verified) else {
        api.throttle.failed(&[&account, &address]).await?;
        return Err(IdentityError::InvalidCredentials.into());
    };
    api.throttle.succeeded(&account).await?;
    let scope = match &message.organization {
        Some(login_request::Organization::OrganizationId(id)) => {
            let organization = organization_id("organization_id", id)?;
            Some(membership(api, &context, user.id, organization).await?)
        }
        Some(login_request::Organization::OrganizationSlug(slug)) => {
            let organization = api.tenancy.resolve_slug(&context, slug).await?;
            Some(membership(api, &context, user.id, organization).await?)
        }
        None => None,
    };
    let tokens = start_session(api, &request, &user, scope).await?;
    Ok(LoginResponse {
        tokens: Some(tokens),
        user: Some(convert::user(&user)),
    })
}

pub(super) async fn refresh_token(
    api: &IdentityApi,
    request: Request<RefreshTokenRequest>,
) -> Result<RefreshTokenResponse> {
    let context = CallContext::from_request(&request);
    let message = request.get_ref();
    let digest = secrets::digest(&message.refresh_token);
    let (session, used) = api
        .store
        .session_by_refresh(&digest)
        .await?
        .ok_or(IdentityError::RefreshTokenInvalid)?;
    // The scope of the new tokens: the one asked for (must be a member, else NOT_FOUND and
    // the refresh token stays unused), or the session's (dropped if membership ended). A
    // token already used skips this: reuse is detected and answered before anything else.
    let scope = if used {
        (None, None)
    } else if !message.organization_id.is_empty() {
        let organization = organization_id("organization_id", &message.organization_id)?;
        let (organization, role) = membership(api, &context, session.user_id, organization).await?;
        (Some(organization), Some(role.to_string()))
    } else if let Some(organization) = session.organization_id {
        match api
            .tenancy
            .role(&context, session.user_id, organization)
            .await?
        {
            Some(role) => (Some(organization), Some(role.to_string())),
            None => (None, None),
        }
    } else {
        (None, None)
    };
    let refresh = secrets::generate(REFRESH_TOKEN_PREFIX);
    let idle_ttl = (api.config.refresh_idle_ttl_secs as i64) * 1_000;
    let on_reuse = |session: &SessionRecord| {
        Effects::none()
            .audit(security_event(
                &request,
                session.user_id,
                "session.token_reuse_detected",
                convert::session_resource(session.user_id, session.id),
                &[],
            ))
            .event(convert::token_reuse_detected(session))
            .extend_with(convert::session_revoked(
                session.user_id,
                session.id,
                SessionRevokeReason::ReuseDetected,
            ))
    };
    match api
        .store
        .rotate_refresh(
            &digest,
            &secrets::digest(&refresh),
            scope,
            idle_ttl,
            now_millis(),
            &on_reuse,
        )
        .await?
    {
        RefreshOutcome::Rotated(session) => Ok(RefreshTokenResponse {
            tokens: Some(tokens(api, &session, refresh).await?),
        }),
        RefreshOutcome::Reused(session) => {
            tracing::warn!(user_id = %session.user_id, session_id = %session.id, "refresh token reuse: session revoked");
            Err(IdentityError::RefreshTokenReused.into())
        }
        RefreshOutcome::Invalid => Err(IdentityError::RefreshTokenInvalid.into()),
    }
}

pub(super) async fn logout(
    api: &IdentityApi,
    request: Request<LogoutRequest>,
) -> Result<LogoutResponse> {
    let (principal, session) = api.session_principal(&request).await?;
    let event =
        convert::session_revoked(principal.user_id, session.id, SessionRevokeReason::Logout).audit(
            security_event(
                &request,
                principal.user_id,
                "session.signed_out",
                convert::session_resource(principal.user_id, session.id),
                &[],
            ),
        );
    api.store
        .revoke_session(principal.user_id, session.id, "logout", now_millis(), event)
        .await?;
    Ok(LogoutResponse {})
}

pub(super) async fn list_sessions(
    api: &IdentityApi,
    request: Request<ListSessionsRequest>,
) -> Result<ListSessionsResponse> {
    let (principal, current) = api.session_principal(&request).await?;
    let message = request.get_ref();
    let page = own_page(
        "sessions",
        principal.user_id,
        message.page_size,
        &message.page_token,
    )?;
    let page = api
        .store
        .list_sessions(principal.user_id, now_millis(), &page)
        .await?;
    Ok(ListSessionsResponse {
        sessions: page
            .items
            .iter()
            .map(|session| convert::session(session, Some(current.id)))
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn list_security_events(
    api: &IdentityApi,
    request: Request<ListSecurityEventsRequest>,
) -> Result<ListSecurityEventsResponse> {
    let (principal, _) = api.session_principal(&request).await?;
    let message = request.get_ref();
    let page = own_page(
        "security",
        principal.user_id,
        message.page_size,
        &message.page_token,
    )?;
    let page = api.store.security_events(principal.user_id, &page).await?;
    Ok(ListSecurityEventsResponse {
        security_events: page.items.iter().map(convert::security_event).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn revoke_session(
    api: &IdentityApi,
    request: Request<RevokeSessionRequest>,
) -> Result<RevokeSessionResponse> {
    let (principal, _) = api.session_principal(&request).await?;
    let session_id: SessionId =
        mesh::request::parse_id(domain::DOMAIN, "session_id", &request.get_ref().session_id)?;
    let event = convert::session_revoked(
        principal.user_id,
        session_id,
        SessionRevokeReason::UserRevoked,
    )
    .audit(security_event(
        &request,
        principal.user_id,
        "session.revoked",
        convert::session_resource(principal.user_id, session_id),
        &[],
    ));
    if !api
        .store
        .revoke_session(
            principal.user_id,
            session_id,
            "user_revoked",
            now_millis(),
            event,
        )
        .await?
    {
        // Revoking an already revoked session of one's own succeeds (idempotent); anything
        // else (unknown, or another user's) is NOT_FOUND.
        let already_revoked = api.store.session(session_id).await?.is_some_and(|session| {
            session.user_id == principal.user_id && session.revoked_at.is_some()
        });
        if !already_revoked {
            return Err(IdentityError::NotFound("session").into());
        }
        return Ok(RevokeSessionResponse {});
    }
    Ok(RevokeSessionResponse {})
}

pub(super) async fn switch_organization(
    api: &IdentityApi,
    request: Request<SwitchOrganizationRequest>,
) -> Result<SwitchOrganizationResponse> {
    let (principal, session) = api.session_principal(&request).await?;
    let organization = organization_id("organization_id", &request.get_ref().organization_id)?;
    let context = CallContext::from_request(&request);
    let (organization, role) = membership(api, &context, principal.user_id, organization).await?;
    let refresh = secrets::generate(REFRESH_TOKEN_PREFIX);
    let idle_ttl = (api.config.refresh_idle_ttl_secs as i64) * 1_000;
    let session = api
        .store
        .rescope_session(
            session.id,
            (Some(organization), Some(role.to_string())),
            &secrets::digest(&refresh),
            idle_ttl,
            now_millis(),
        )
        .await?
        .ok_or_else(|| ServiceError::from(mesh::auth::AuthError::Revoked))?;
    Ok(SwitchOrganizationResponse {
        tokens: Some(tokens(api, &session, refresh).await?),
    })
}
