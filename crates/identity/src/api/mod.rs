//! Identity's gRPC API: the only module that sees tonic. Each method validates and converts,
//! calls the domain and the store, and maps errors once (`IdentityError` → `ServiceError`).

mod account;
mod convert;
mod sessions;
mod tokens;

use std::sync::Arc;

use mesh::auth::{Principal, TokenKind, TokenVerifier};
use mesh::config::AuthConfig;
use mesh::error::ServiceError;
use taskmesh::identity::v1::identity_service_server::IdentityService;
use taskmesh::identity::v1::*;
use tonic::{Request, Response, Status};

use crate::IdentityConfig;
use crate::domain::IdentityError;
use crate::keys::Keys;
use crate::store::{IdentityStore, SessionRecord};
use crate::tenancy::TenancyDirectory;
use crate::throttle::{Key, Throttle};
use kit::passwords::PasswordHasherPool;

/// Everything the identity API needs.
pub struct IdentityApi {
    pub(crate) store: Arc<dyn IdentityStore>,
    pub(crate) hasher: PasswordHasherPool,
    pub(crate) keys: Arc<Keys>,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) tenancy: Arc<dyn TenancyDirectory>,
    pub(crate) config: IdentityConfig,
    pub(crate) auth: AuthConfig,
    pub(crate) throttle: Arc<Throttle>,
}

type Reply<T> = Result<Response<T>, Status>;

impl IdentityApi {
    /// The login throttle key of an account (whatever the address).
    fn login_key(&self, email: &str) -> Key {
        Key::new(
            format!("login:{email}"),
            self.config.login_failures_before_delay,
        )
    }

    /// The login throttle key of a client address (shared by everyone behind it, so it
    /// allows many more failures).
    fn login_address_key(&self, ip: &str) -> Key {
        Key::new(
            format!("login-ip:{ip}"),
            self.config.login_failures_per_address_before_delay,
        )
    }

    /// The caller, with a credential that still works: an access token's session must be
    /// live (a logout ends it at once here, whatever the token's expiry); a personal access
    /// token was introspected by the auth layer.
    async fn live_principal<'a, T>(
        &self,
        request: &'a Request<T>,
    ) -> Result<&'a Principal, ServiceError> {
        let principal = mesh::auth::require_principal(request)?;
        if principal.token_kind == TokenKind::Access {
            return Ok(self.session_principal(request).await?.0);
        }
        Ok(principal)
    }

    /// The caller, who must hold an access token of a live session.
    async fn session_principal<'a, T>(
        &self,
        request: &'a Request<T>,
    ) -> Result<(&'a Principal, SessionRecord), ServiceError> {
        let principal = mesh::auth::require_principal(request)?;
        if principal.token_kind != TokenKind::Access {
            return Err(IdentityError::TokenKindNotAllowed.into());
        }
        let session_id = principal
            .session_id
            .ok_or(IdentityError::TokenKindNotAllowed)?;
        let session = self
            .store
            .session(session_id)
            .await?
            .filter(|session| {
                session.is_active(mesh::time::now_millis()) && session.user_id == principal.user_id
            })
            .ok_or_else(|| ServiceError::from(mesh::auth::AuthError::Revoked))?;
        Ok((principal, session))
    }
}

/// A page of one of the caller's own lists (`what`: sessions, tokens, security events),
/// newest first.
fn own_page(
    what: &str,
    user_id: mesh::ids::UserId,
    page_size: i32,
    page_token: &str,
) -> Result<mesh::paging::PageRequest, ServiceError> {
    mesh::paging::PageRequest::new(
        crate::domain::DOMAIN,
        page_size,
        page_token,
        format!("{what}:{user_id}"),
        crate::store::NEWEST_FIRST,
    )
}

/// An entry of `user_id`'s security log about `resource`, done by the client of `request`.
fn security_event<T>(
    request: &Request<T>,
    user_id: mesh::ids::UserId,
    action: &str,
    resource: String,
    details: &[(&str, String)],
) -> kit::AuditEntry {
    let (user_agent, ip_address) = client_of(request);
    let mut all = vec![("ip_address", ip_address), ("user_agent", user_agent)];
    all.extend(details.iter().cloned());
    kit::AuditEntry::of_user(
        user_id,
        action,
        resource,
        &all,
        &mesh::request::request_id(request),
        mesh::time::now_millis(),
    )
}

/// The user agent and client IP of a request, recorded on sessions.
fn client_of<T>(request: &Request<T>) -> (String, String) {
    let header = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let user_agent = header("user-agent")
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    let ip = header(mesh::telemetry::CLIENT_IP_HEADER)
        .or_else(|| {
            request
                .remote_addr()
                .map(|address| address.ip().to_string())
        })
        .unwrap_or_default();
    (user_agent, ip)
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn sign_up(&self, request: Request<SignUpRequest>) -> Reply<SignUpResponse> {
        Ok(Response::new(sessions::sign_up(self, request).await?))
    }

    async fn login(&self, request: Request<LoginRequest>) -> Reply<LoginResponse> {
        Ok(Response::new(sessions::login(self, request).await?))
    }

    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Reply<RefreshTokenResponse> {
        Ok(Response::new(sessions::refresh_token(self, request).await?))
    }

    async fn logout(&self, request: Request<LogoutRequest>) -> Reply<LogoutResponse> {
        Ok(Response::new(sessions::logout(self, request).await?))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Reply<ListSessionsResponse> {
        Ok(Response::new(sessions::list_sessions(self, request).await?))
    }

    async fn list_security_events(
        &self,
        request: Request<ListSecurityEventsRequest>,
    ) -> Reply<ListSecurityEventsResponse> {
        Ok(Response::new(
            sessions::list_security_events(self, request).await?,
        ))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Reply<RevokeSessionResponse> {
        Ok(Response::new(
            sessions::revoke_session(self, request).await?,
        ))
    }

    async fn get_current_user(
        &self,
        request: Request<GetCurrentUserRequest>,
    ) -> Reply<GetCurrentUserResponse> {
        Ok(Response::new(
            account::get_current_user(self, request).await?,
        ))
    }

    async fn update_current_user(
        &self,
        request: Request<UpdateCurrentUserRequest>,
    ) -> Reply<UpdateCurrentUserResponse> {
        Ok(Response::new(
            account::update_current_user(self, request).await?,
        ))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Reply<ChangePasswordResponse> {
        Ok(Response::new(
            account::change_password(self, request).await?,
        ))
    }

    async fn switch_organization(
        &self,
        request: Request<SwitchOrganizationRequest>,
    ) -> Reply<SwitchOrganizationResponse> {
        Ok(Response::new(
            sessions::switch_organization(self, request).await?,
        ))
    }

    async fn create_personal_access_token(
        &self,
        request: Request<CreatePersonalAccessTokenRequest>,
    ) -> Reply<CreatePersonalAccessTokenResponse> {
        Ok(Response::new(
            tokens::create_personal_access_token(self, request).await?,
        ))
    }

    async fn list_personal_access_tokens(
        &self,
        request: Request<ListPersonalAccessTokensRequest>,
    ) -> Reply<ListPersonalAccessTokensResponse> {
        Ok(Response::new(
            tokens::list_personal_access_tokens(self, request).await?,
        ))
    }

    async fn revoke_personal_access_token(
        &self,
        request: Request<RevokePersonalAccessTokenRequest>,
    ) -> Reply<RevokePersonalAccessTokenResponse> {
        Ok(Response::new(
            tokens::revoke_personal_access_token(self, request).await?,
        ))
    }

    async fn request_password_reset(
        &self,
        request: Request<RequestPasswordResetRequest>,
    ) -> Reply<RequestPasswordResetResponse> {
        Ok(Response::new(
            account::request_password_reset(self, request).await?,
        ))
    }

    async fn reset_password(
        &self,
        request: Request<ResetPasswordRequest>,
    ) -> Reply<ResetPasswordResponse> {
        Ok(Response::new(account::reset_password(self, request).await?))
    }

    async fn get_jwks(&self, _request: Request<GetJwksRequest>) -> Reply<GetJwksResponse> {
        Ok(Response::new(tokens::get_jwks(self).await?))
    }

    async fn introspect_token(
        &self,
        request: Request<IntrospectTokenRequest>,
    ) -> Reply<IntrospectTokenResponse> {
        Ok(Response::new(
            tokens::introspect_token(self, request).await?,
        ))
    }
}
