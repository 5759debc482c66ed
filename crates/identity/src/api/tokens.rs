//! Personal access tokens, the JWKS, and token introspection.

use mesh::auth::Scope;
use mesh::error::ServiceError;
use mesh::peers::CallContext;
use mesh::time::{now_millis, optional_timestamp, timestamp};
use taskmesh::identity::v1::*;
use tonic::Request;

use kit::Effects;

use super::{IdentityApi, convert, own_page, security_event};
use crate::domain::secrets::{self, PERSONAL_ACCESS_TOKEN_PREFIX};
use crate::domain::{self, IdentityError};
use crate::store::PersonalAccessTokenRecord;

type Result<T> = std::result::Result<T, ServiceError>;

const DEFAULT_TTL_MILLIS: i64 = 30 * 24 * 3_600 * 1_000;
const MAX_TTL_MILLIS: i64 = 366 * 24 * 3_600 * 1_000;

pub(super) async fn create_personal_access_token(
    api: &IdentityApi,
    request: Request<CreatePersonalAccessTokenRequest>,
) -> Result<CreatePersonalAccessTokenResponse> {
    let (principal, _) = api.session_principal(&request).await?;
    let organization_id = principal.organization()?;
    let message = request.get_ref();
    let name = message.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(IdentityError::InvalidField {
            field: "name",
            description: "must be 1 to 100 characters".into(),
        }
        .into());
    }
    let scope = match PersonalAccessTokenScope::try_from(message.scope)
        .unwrap_or(PersonalAccessTokenScope::Unspecified)
    {
        PersonalAccessTokenScope::ReadOnly => "read_only",
        PersonalAccessTokenScope::ReadWrite => "read_write",
        PersonalAccessTokenScope::Unspecified => {
            return Err(IdentityError::InvalidField {
                field: "scope",
                description: "must be READ_ONLY or READ_WRITE".into(),
            }
            .into());
        }
    };
    let request_id = domain::request_id(&message.request_id)?;
    let now = now_millis();
    let expires_at = match &message.expiration {
        Some(create_personal_access_token_request::Expiration::ExpireTime(time)) => {
            mesh::time::millis(time)
        }
        Some(create_personal_access_token_request::Expiration::Ttl(ttl)) => now
            .saturating_add(ttl.seconds.saturating_mul(1_000))
            .saturating_add(i64::from(ttl.nanos) / 1_000_000),
        None => now + DEFAULT_TTL_MILLIS,
    };
    if expires_at <= now || expires_at > now + MAX_TTL_MILLIS {
        let field = match &message.expiration {
            Some(create_personal_access_token_request::Expiration::Ttl(_)) => "ttl",
            _ => "expire_time",
        };
        return Err(IdentityError::InvalidField {
            field,
            description: "must be in the future and at most one year away".into(),
        }
        .into());
    }
    let secret = secrets::generate(PERSONAL_ACCESS_TOKEN_PREFIX);
    let record = PersonalAccessTokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: principal.user_id,
        organization_id,
        name: name.to_string(),
        scope: scope.into(),
        token_prefix: secrets::display_prefix(&secret),
        request_id: request_id.clone(),
        created_at: now,
        expires_at: Some(expires_at),
        last_used_at: None,
        revoked_at: None,
    };
    let user_id = principal.user_id;
    let outcome = kit::create_once(
        request_id.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.personal_access_token_by_request(user_id, &key).await }
        },
        || async {
            api.store
                .create_personal_access_token(
                    &record,
                    &secrets::digest(&secret),
                    api.config.max_personal_access_tokens,
                    now,
                    Effects::none().audit(security_event(
                        &request,
                        user_id,
                        "personal_access_token.created",
                        convert::token_resource(user_id, &record.id),
                        &[("name", record.name.clone())],
                    )),
                )
                .await
                .map(|()| record.clone())
        },
    )
    .await?;
    Ok(match outcome {
        kit::Outcome::Created(record) => CreatePersonalAccessTokenResponse {
            personal_access_token: Some(convert::personal_access_token(&record)),
            token: secret,
        },
        // Only the digest is kept: a retry gets the token without its secret.
        kit::Outcome::Replayed(existing) => CreatePersonalAccessTokenResponse {
            personal_access_token: Some(convert::personal_access_token(&existing)),
            token: String::new(),
        },
    })
}

pub(super) async fn list_personal_access_tokens(
    api: &IdentityApi,
    request: Request<ListPersonalAccessTokensRequest>,
) -> Result<ListPersonalAccessTokensResponse> {
    let (principal, _) = api.session_principal(&request).await?;
    let message = request.get_ref();
    let page = own_page(
        "personal_access_tokens",
        principal.user_id,
        message.page_size,
        &message.page_token,
    )?;
    let page = api
        .store
        .list_personal_access_tokens(principal.user_id, &page)
        .await?;
    Ok(ListPersonalAccessTokensResponse {
        personal_access_tokens: page
            .items
            .iter()
            .map(convert::personal_access_token)
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn revoke_personal_access_token(
    api: &IdentityApi,
    request: Request<RevokePersonalAccessTokenRequest>,
) -> Result<RevokePersonalAccessTokenResponse> {
    let (principal, _) = api.session_principal(&request).await?;
    if !api
        .store
        .revoke_personal_access_token(
            principal.user_id,
            &request.get_ref().id,
            now_millis(),
            convert::token_revoked(principal.user_id, &request.get_ref().id).audit(security_event(
                &request,
                principal.user_id,
                "personal_access_token.revoked",
                convert::token_resource(principal.user_id, &request.get_ref().id),
                &[],
            )),
        )
        .await?
    {
        return Err(IdentityError::NotFound("personal access token").into());
    }
    Ok(RevokePersonalAccessTokenResponse {})
}

pub(super) async fn get_jwks(api: &IdentityApi) -> Result<GetJwksResponse> {
    let keys = api
        .keys
        .published()
        .await?
        .into_iter()
        .map(|key| Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: key.kid,
            x: key.x,
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        })
        .collect();
    Ok(GetJwksResponse { keys })
}

pub(super) async fn introspect_token(
    api: &IdentityApi,
    request: Request<IntrospectTokenRequest>,
) -> Result<IntrospectTokenResponse> {
    let context = CallContext::from_request(&request);
    let token = request.into_inner().token;
    let inactive = IntrospectTokenResponse::default();
    let now = now_millis();
    if token.starts_with(PERSONAL_ACCESS_TOKEN_PREFIX) {
        let Some(record) = api
            .store
            .use_personal_access_token(&secrets::digest(&token), now)
            .await?
        else {
            return Ok(inactive);
        };
        if !record.is_active(now) {
            return Ok(inactive);
        }
        // The role is the user's role now, not when the token was made: a removed member's
        // token stops working at once.
        let Some(role) = api
            .tenancy
            .role(&context, record.user_id, record.organization_id)
            .await?
        else {
            return Ok(inactive);
        };
        let scopes = if record.scope == "read_only" {
            vec!["read".to_string()]
        } else {
            vec!["read".to_string(), "write".to_string()]
        };
        return Ok(IntrospectTokenResponse {
            active: true,
            user_id: record.user_id.to_string(),
            organization_id: record.organization_id.to_string(),
            role: convert::role(Some(role)),
            token_kind: TokenKind::PersonalAccessToken as i32,
            scopes,
            expire_time: optional_timestamp(record.expires_at),
            session_id: String::new(),
            personal_access_token_id: record.id.clone(),
        });
    }
    let Ok(principal) = api.verifier.verify(&token).await else {
        return Ok(inactive);
    };
    // An access token is only as alive as its session (logout, reuse, password change).
    if let Some(session_id) = principal.session_id {
        let alive = api
            .store
            .session(session_id)
            .await?
            .is_some_and(|session| session.is_active(now));
        if !alive {
            return Ok(inactive);
        }
    }
    let claims_expiry = jsonwebtoken_expiry(&token);
    Ok(IntrospectTokenResponse {
        active: true,
        user_id: principal.user_id.to_string(),
        organization_id: principal
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        role: convert::role(principal.role),
        token_kind: TokenKind::AccessToken as i32,
        scopes: match principal.scope {
            Scope::ReadOnly => vec!["read".into()],
            Scope::ReadWrite => vec!["read".into(), "write".into()],
        },
        expire_time: claims_expiry.map(|seconds| timestamp(seconds * 1_000)),
        session_id: principal
            .session_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        personal_access_token_id: String::new(),
    })
}

/// The `exp` of an already verified token.
fn jsonwebtoken_expiry(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}
