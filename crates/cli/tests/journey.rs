//! The identity + tenancy journey on the real all-in-one mesh, over loopback gRPC:
//! two users, two organizations, an invitation, role enforcement, removal, refresh-token
//! reuse, token attacks, personal access tokens, password reset through the event stream.

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesh::auth::{AccessClaims, SigningKey};
use support::*;
use taskmesh::identity::v1::*;
use taskmesh::tenancy::v1::{OrganizationRole as Role, *};
use tonic::Code;

#[tokio::test]
async fn two_organizations_an_invitation_and_a_removal() {
    let mesh = Mesh::start().await;
    let (ada, ada_tokens) = mesh.sign_up("Ada@Example.com").await;
    assert_eq!(ada.email, "ada@example.com", "emails are normalized");
    let (bob, bob_tokens) = mesh.sign_up("bob@example.com").await;
    assert_refused(
        mesh.identity()
            .sign_up(SignUpRequest {
                email: "ADA@example.com".into(),
                password: "another-horse-8".into(),
                display_name: "Imposter".into(),
                request_id: String::new(),
            })
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );

    let (acme, ada_acme) = mesh.create_organization(&ada_tokens, "acme").await;
    let (_bobco, bob_bobco) = mesh.create_organization(&bob_tokens, "bobco").await;
    assert_eq!(ada_acme.organization_id, acme.id);
    assert_eq!(
        ada_acme.role,
        taskmesh::identity::v1::OrganizationRole::Owner as i32
    );

    // Bob cannot see Acme: naming it from his own organization's token is refused, and a
    // random id answers exactly the same.
    let random = mesh::ids::OrganizationId::new().to_string();
    for id in [acme.id.clone(), random] {
        assert_refused(
            mesh.tenancy()
                .get_organization(bearer(
                    GetOrganizationRequest { id },
                    &bob_bobco.access_token,
                ))
                .await,
            Code::PermissionDenied,
            "ORGANIZATION_MISMATCH",
        );
    }
    assert_refused(
        mesh.switch(&bob_tokens, &acme.id).await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );

    // Ada invites Bob as a member; Bob accepts and switches.
    let bob_acme = mesh
        .invite_and_join(
            &ada_acme,
            &acme.id,
            "bob@example.com",
            Role::Member,
            &bob_tokens,
        )
        .await;
    assert_eq!(
        bob_acme.role,
        taskmesh::identity::v1::OrganizationRole::Member as i32
    );
    let members = mesh
        .tenancy()
        .list_members(bearer(
            ListMembersRequest {
                organization_id: acme.id.clone(),
                page_size: 0,
                page_token: String::new(),
            },
            &bob_acme.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .members;
    let mut emails: Vec<_> = members.iter().map(|m| m.email.clone()).collect();
    emails.sort();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);

    // Bob, a member, cannot change roles.
    assert_refused(
        mesh.tenancy()
            .update_member_role(bearer(
                UpdateMemberRoleRequest {
                    organization_id: acme.id.clone(),
                    user_id: ada.id.clone(),
                    role: Role::Guest as i32,
                    etag: String::new(),
                },
                &bob_acme.access_token,
            ))
            .await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    // Ada cannot leave Acme ownerless.
    assert_refused(
        mesh.tenancy()
            .update_member_role(bearer(
                UpdateMemberRoleRequest {
                    organization_id: acme.id.clone(),
                    user_id: ada.id.clone(),
                    role: Role::Admin as i32,
                    etag: String::new(),
                },
                &ada_acme.access_token,
            ))
            .await,
        Code::FailedPrecondition,
        "LAST_OWNER",
    );

    // Ada removes Bob. His still-valid token is refused on the next request (membership is
    // re-checked), and he cannot get a fresh token for Acme.
    mesh.tenancy()
        .remove_member(bearer(
            RemoveMemberRequest {
                organization_id: acme.id.clone(),
                user_id: bob.id.clone(),
                etag: String::new(),
            },
            &ada_acme.access_token,
        ))
        .await
        .unwrap();
    assert_refused(
        mesh.tenancy()
            .list_members(bearer(
                ListMembersRequest {
                    organization_id: acme.id.clone(),
                    page_size: 0,
                    page_token: String::new(),
                },
                &bob_acme.access_token,
            ))
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_refused(
        mesh.switch(&bob_tokens, &acme.id).await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    let refreshed = mesh
        .identity()
        .refresh_token(RefreshTokenRequest {
            refresh_token: bob_acme.refresh_token.clone(),
            organization_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_eq!(
        refreshed.organization_id, "",
        "a refresh after removal drops the organization"
    );
    assert_refused(
        mesh.tenancy()
            .get_organization(bearer(
                GetOrganizationRequest {
                    id: acme.id.clone(),
                },
                &refreshed.access_token,
            ))
            .await,
        Code::PermissionDenied,
        "ORGANIZATION_REQUIRED",
    );

    // The audit trail recorded it all, for owners only.
    let audit = mesh
        .tenancy()
        .list_audit_events(bearer(
            ListAuditEventsRequest {
                organization_id: acme.id.clone(),
                page_size: 0,
                page_token: String::new(),
                filter: r#"action = "member.*""#.into(),
                order_by: "create_time asc".into(),
            },
            &ada_acme.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let actions: Vec<_> = audit.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(actions, ["member.added", "member.added", "member.removed"]);

    // Events for every change reached the bus through the outbox.
    for subject in [
        "taskmesh.identity.user.created",
        "taskmesh.tenancy.organization.created",
        "taskmesh.tenancy.member.added",
        "taskmesh.tenancy.invitation.created",
        "taskmesh.tenancy.invitation.accepted",
        "taskmesh.tenancy.member.removed",
    ] {
        wait_for_event(&mesh, subject).await;
    }
    mesh.stop().await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let mesh = Mesh::start().await;
    let (_, tokens) = mesh.sign_up("carol@example.com").await;
    let rotated = mesh
        .identity()
        .refresh_token(RefreshTokenRequest {
            refresh_token: tokens.refresh_token.clone(),
            organization_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    // The old token again: someone has a copy. The family (session) dies.
    assert_refused(
        mesh.identity()
            .refresh_token(RefreshTokenRequest {
                refresh_token: tokens.refresh_token.clone(),
                organization_id: String::new(),
            })
            .await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    assert_refused(
        mesh.identity()
            .refresh_token(RefreshTokenRequest {
                refresh_token: rotated.refresh_token.clone(),
                organization_id: String::new(),
            })
            .await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_INVALID",
    );
    assert_refused(
        mesh.identity()
            .list_sessions(bearer(
                ListSessionsRequest::default(),
                &rotated.access_token,
            ))
            .await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    let event = wait_for_event(&mesh, "taskmesh.identity.session.token_reuse_detected").await;
    assert_eq!(
        event.resource,
        format!(
            "users/{}/sessions/{}",
            event_user(&event),
            rotated.session_id
        )
    );
    mesh.stop().await;
}

fn event_user(event: &taskmesh::events::v1::Event) -> String {
    event.resource.split('/').nth(1).unwrap().to_string()
}

/// Reads identity's current signing key from its database, to forge tokens that are valid
/// in every respect but the one under test.
async fn signing_key(mesh: &Mesh) -> SigningKey {
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        mesh.data.path().join("identity.db").display()
    ))
    .await
    .unwrap();
    let (kid, seed): (String, Vec<u8>) =
        sqlx::query_as("select kid, seed from signing_keys where retired_at is null")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    SigningKey::from_seed(kid, seed.try_into().unwrap())
}

#[tokio::test]
async fn expired_tampered_foreign_and_unsigned_tokens_are_refused() {
    let mesh = Mesh::start().await;
    let (user, tokens) = mesh.sign_up("dave@example.com").await;
    let key = signing_key(&mesh).await;
    let now = (mesh::time::now_millis() / 1_000) as u64;
    let claims = |exp: u64, aud: &str| AccessClaims {
        iss: "taskmesh".into(),
        aud: aud.into(),
        sub: user.id.clone(),
        org: None,
        role: None,
        typ: "access".into(),
        iat: now - 3_600,
        nbf: now - 3_600,
        exp,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: Some(tokens.session_id.clone()),
    };
    let identity = mesh.identity();
    let call = |token: String| {
        let mut client = identity.clone();
        async move {
            client
                .get_current_user(bearer(GetCurrentUserRequest {}, &token))
                .await
        }
    };

    // The real token works.
    assert_eq!(
        call(tokens.access_token.clone())
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
            .id,
        user.id
    );
    assert_refused(
        call(key.sign(&claims(now - 600, "taskmesh")).unwrap()).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_refused(
        call(key.sign(&claims(now + 600, "another-audience")).unwrap()).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let mut parts: Vec<String> = tokens.access_token.split('.').map(String::from).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = serde_json::Value::String(mesh::ids::UserId::new().to_string());
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert_refused(
        call(parts.join(".")).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now + 600, "taskmesh")).unwrap())
    );
    assert_refused(call(unsigned).await, Code::Unauthenticated, "TOKEN_INVALID");
    assert_refused(
        call(
            SigningKey::generate(key.kid())
                .sign(&claims(now + 600, "taskmesh"))
                .unwrap(),
        )
        .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_personal_access_token_works_until_revoked() {
    let mesh = Mesh::start().await;
    let (_, tokens) = mesh.sign_up("erin@example.com").await;
    let (organization, scoped) = mesh.create_organization(&tokens, "erinco").await;
    let created = mesh
        .identity()
        .create_personal_access_token(bearer(
            CreatePersonalAccessTokenRequest {
                name: "ci".into(),
                scope: PersonalAccessTokenScope::ReadOnly as i32,
                expiration: None,
                request_id: String::new(),
            },
            &scoped.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(created.token.starts_with("tmpat_"));
    let pat = created.token;
    let tenancy = mesh.tenancy();
    let get = || {
        let mut client = tenancy.clone();
        let request = bearer(
            GetOrganizationRequest {
                id: organization.id.clone(),
            },
            &pat,
        );
        async move { client.get_organization(request).await }
    };
    assert_eq!(
        get().await.unwrap().into_inner().organization.unwrap().slug,
        "erinco"
    );
    // Read-only means read-only.
    assert_refused(
        mesh.tenancy()
            .update_organization(bearer(
                UpdateOrganizationRequest {
                    organization: Some(Organization {
                        id: organization.id.clone(),
                        name: "Renamed".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["name".into()],
                    }),
                },
                &pat,
            ))
            .await,
        Code::PermissionDenied,
        "SCOPE_INSUFFICIENT",
    );
    // A personal access token cannot mint more credentials.
    assert_refused(
        mesh.identity()
            .create_personal_access_token(bearer(
                CreatePersonalAccessTokenRequest {
                    name: "more".into(),
                    scope: PersonalAccessTokenScope::ReadWrite as i32,
                    expiration: None,
                    request_id: String::new(),
                },
                &pat,
            ))
            .await,
        Code::PermissionDenied,
        "TOKEN_KIND_NOT_ALLOWED",
    );
    let listed = mesh
        .identity()
        .list_personal_access_tokens(bearer(
            ListPersonalAccessTokensRequest::default(),
            &scoped.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let record = listed.personal_access_tokens.first().unwrap().clone();
    assert!(record.last_used_time.is_some());
    mesh.identity()
        .revoke_personal_access_token(bearer(
            RevokePersonalAccessTokenRequest { id: record.id },
            &scoped.access_token,
        ))
        .await
        .unwrap();
    assert_refused(get().await, Code::Unauthenticated, "TOKEN_REVOKED");
    mesh.stop().await;
}

#[tokio::test]
async fn password_reset_through_the_event_stream() {
    let mesh = Mesh::start().await;
    let (_, tokens) = mesh.sign_up("frank@example.com").await;
    // The same answer for known and unknown emails.
    mesh.identity()
        .request_password_reset(RequestPasswordResetRequest {
            email: "nobody@example.com".into(),
        })
        .await
        .unwrap();
    mesh.identity()
        .request_password_reset(RequestPasswordResetRequest {
            email: "frank@example.com".into(),
        })
        .await
        .unwrap();
    let event = wait_for_event(&mesh, "taskmesh.identity.password_reset.requested").await;
    let payload: taskmesh::events::v1::PasswordResetRequested =
        prost::Message::decode(event.payload.as_slice()).unwrap();
    assert_eq!(payload.email, "frank@example.com");
    assert_refused(
        mesh.identity()
            .reset_password(ResetPasswordRequest {
                reset_token: payload.reset_token.clone(),
                new_password: "short".into(),
                keep_personal_access_tokens: false,
            })
            .await,
        Code::InvalidArgument,
        "PASSWORD_TOO_WEAK",
    );
    mesh.identity()
        .reset_password(ResetPasswordRequest {
            reset_token: payload.reset_token.clone(),
            new_password: "new-horse-9000".into(),
            keep_personal_access_tokens: false,
        })
        .await
        .unwrap();
    assert_refused(
        mesh.identity()
            .reset_password(ResetPasswordRequest {
                reset_token: payload.reset_token,
                new_password: "newer-horse-9001".into(),
                keep_personal_access_tokens: false,
            })
            .await,
        Code::InvalidArgument,
        "RESET_TOKEN_INVALID",
    );
    // Old sessions ended; the old password fails; the new one works.
    assert_refused(
        mesh.identity()
            .list_sessions(bearer(ListSessionsRequest::default(), &tokens.access_token))
            .await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    let identity = mesh.identity();
    let login = |password: &str| {
        let mut client = identity.clone();
        let request = LoginRequest {
            email: "frank@example.com".into(),
            password: password.into(),
            organization: None,
        };
        async move { client.login(request).await }
    };
    assert_refused(
        login("correct-horse-7").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    login("new-horse-9000").await.unwrap();
    mesh.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_are_slowed_down() {
    let mesh = Mesh::start_with(|config| {
        config
            .update_section("identity", |identity: &mut identity::IdentityConfig| {
                identity.login_failures_before_delay = 2;
                identity.login_failures_per_address_before_delay = 3;
            })
            .unwrap()
    })
    .await;
    mesh.sign_up("grace@example.com").await;
    let identity = mesh.identity();
    let login = |password: &str| {
        let mut client = identity.clone();
        let request = LoginRequest {
            email: "grace@example.com".into(),
            password: password.into(),
            organization: None,
        };
        async move { client.login(request).await }
    };
    // An unknown email answers like a wrong password (and counts against the source).
    assert_refused(
        mesh.identity()
            .login(LoginRequest {
                email: "nobody@example.com".into(),
                password: "correct-horse-7".into(),
                organization: None,
            })
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // Two failures are free; the third blocks the account for a second.
    for _ in 0..3 {
        assert_refused(
            login("wrong-horse-1").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    let status = login("correct-horse-7").await.unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::ResourceExhausted, "RATE_LIMITED")
    );
    assert!(status.metadata().get("retry-after").is_some());
    // The source address is slowed down too, whatever account it tries next.
    assert_refused(
        mesh.identity()
            .login(LoginRequest {
                email: "someone-else@example.com".into(),
                password: "x".into(),
                organization: None,
            })
            .await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    mesh.stop().await;
}

#[tokio::test]
async fn accounts_sessions_and_organization_lookup() {
    let mesh = Mesh::start().await;
    let (user, first) = mesh.sign_up("heidi@example.com").await;
    let (organization, _) = mesh.create_organization(&first, "heidico").await;

    // Login straight into an organization, by slug; and resolve it by host name (public).
    let login = mesh
        .identity()
        .login(LoginRequest {
            email: "heidi@example.com".into(),
            password: "correct-horse-7".into(),
            organization: Some(login_request::Organization::OrganizationSlug(
                "heidico".into(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let second = login.tokens.unwrap();
    assert_eq!(second.organization_id, organization.id);
    assert_eq!(
        second.role,
        taskmesh::identity::v1::OrganizationRole::Owner as i32
    );
    let resolved = mesh
        .tenancy()
        .resolve_organization(ResolveOrganizationRequest {
            lookup: Some(resolve_organization_request::Lookup::HostName(
                "heidico.taskmesh.localhost".into(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (resolved.organization_id, resolved.slug),
        (organization.id.clone(), "heidico".to_string())
    );
    assert_refused(
        mesh.tenancy()
            .resolve_organization(ResolveOrganizationRequest {
                lookup: Some(resolve_organization_request::Lookup::HostName(
                    "heidico.evil.example".into(),
                )),
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );

    // Sessions: both listed, the caller's marked current.
    let sessions = mesh
        .identity()
        .list_sessions(bearer(ListSessionsRequest::default(), &second.access_token))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions
            .iter()
            .filter(|s| s.current)
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![second.session_id.clone()]
    );
    assert_refused(
        mesh.identity()
            .revoke_session(bearer(
                RevokeSessionRequest {
                    session_id: mesh::ids::SessionId::new().to_string(),
                },
                &second.access_token,
            ))
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );

    // Profile updates: masks and etags are enforced.
    let update = |etag: &str, path: &str| UpdateCurrentUserRequest {
        user: Some(User {
            display_name: "Heidi K.".into(),
            email: "other@example.com".into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![path.into()],
        }),
    };
    assert_refused(
        mesh.identity()
            .update_current_user(bearer(update("", "email"), &second.access_token))
            .await,
        Code::InvalidArgument,
        "UPDATE_MASK_INVALID",
    );
    assert_refused(
        mesh.identity()
            .update_current_user(bearer(update("v7", "display_name"), &second.access_token))
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let updated = mesh
        .identity()
        .update_current_user(bearer(
            update(&user.etag, "display_name"),
            &second.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(
        (updated.display_name.as_str(), updated.email.as_str()),
        ("Heidi K.", "heidi@example.com")
    );

    // Changing the password ends every other session, keeps this one.
    assert_refused(
        mesh.identity()
            .change_password(bearer(
                ChangePasswordRequest {
                    current_password: "wrong-horse-1".into(),
                    new_password: "brand-new-horse-2".into(),
                },
                &second.access_token,
            ))
            .await,
        Code::PermissionDenied,
        "INVALID_CREDENTIALS",
    );
    mesh.identity()
        .change_password(bearer(
            ChangePasswordRequest {
                current_password: "correct-horse-7".into(),
                new_password: "brand-new-horse-2".into(),
            },
            &second.access_token,
        ))
        .await
        .unwrap();
    assert_refused(
        mesh.identity()
            .list_sessions(bearer(ListSessionsRequest::default(), &first.access_token))
            .await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert_eq!(
        mesh.identity()
            .list_sessions(bearer(ListSessionsRequest::default(), &second.access_token))
            .await
            .unwrap()
            .into_inner()
            .sessions
            .len(),
        1
    );

    // Revoking an already ended session of one's own is not an error.
    mesh.identity()
        .revoke_session(bearer(
            RevokeSessionRequest {
                session_id: first.session_id.clone(),
            },
            &second.access_token,
        ))
        .await
        .unwrap();

    // The JWKS publishes the key that signed these tokens; logout ends the session.
    let jwks = mesh
        .identity()
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(second.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        jwks.iter()
            .any(|key| key.kid == header["kid"] && key.crv == "Ed25519")
    );
    mesh.identity()
        .logout(bearer(LogoutRequest {}, &second.access_token))
        .await
        .unwrap();
    assert_refused(
        mesh.identity()
            .list_sessions(bearer(ListSessionsRequest::default(), &second.access_token))
            .await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    let introspected = mesh
        .identity()
        .introspect_token(IntrospectTokenRequest {
            token: second.access_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !introspected.active,
        "a logged-out session's access token is inactive"
    );
    mesh.stop().await;
}
