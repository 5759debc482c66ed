//! The behaviour every [`IdentityStore`] must have, as one suite run against SQLite and
//! PostgreSQL (`tests/store.rs`). Each check uses fresh ids, so the suite can share a
//! database with other data.

use mesh::ids::{OrganizationId, SessionId, UserId};
use mesh::paging::PageRequest;

use super::*;
use crate::domain::IdentityError;

fn user(email: &str) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        email: email.into(),
        display_name: "Ada".into(),
        password_hash: "$argon2id$dummy".into(),
        signup_request_id: Some("signup-1".into()),
        created_at: 1_000,
        updated_at: 1_000,
        version: 1,
    }
}

fn session(user_id: UserId, now: i64) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(),
        user_id,
        organization_id: None,
        role: None,
        user_agent: "test-agent".into(),
        ip_address: "127.0.0.1".into(),
        created_at: now,
        last_used_at: now,
        idle_expires_at: now + 10_000,
        absolute_expires_at: now + 100_000,
        revoked_at: None,
        revoke_reason: None,
    }
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::now_v7().simple())
}

fn no_events<T>(_: &T) -> Effects {
    Effects::none()
}

/// Runs every check.
pub async fn run(store: &dyn IdentityStore) {
    users(store).await;
    sessions_and_refresh_rotation(store).await;
    personal_access_tokens(store).await;
    signing_keys(store).await;
    passwords(store).await;
    throttle(store).await;
    security_log(store).await;
}

/// Effects' audit entries are the user's security log, newest first, the user's own only.
async fn security_log(store: &dyn IdentityStore) {
    let ada = user(&unique_email());
    store.create_user(&ada, Effects::none()).await.unwrap();
    let other = user(&unique_email());
    store.create_user(&other, Effects::none()).await.unwrap();
    for (user_id, at) in [(ada.id, 1_000), (other.id, 1_500), (ada.id, 2_000)] {
        let session = session(user_id, at);
        let entry = AuditEntry {
            created_at: at,
            ..AuditEntry::of_user(
                user_id,
                "session.signed_in",
                format!("users/{user_id}/sessions/{}", session.id),
                &[("ip_address", "203.0.113.7".into())],
                "req",
                at,
            )
        };
        store
            .create_session(
                &session,
                session.id.to_string().as_bytes(),
                Effects::none().audit(entry),
            )
            .await
            .unwrap();
    }
    let first = PageRequest::first(1, NEWEST_FIRST);
    let page = store.security_events(ada.id, &first).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].created_at, 2_000);
    assert_eq!(page.items[0].organization_id, None);
    let rest = store
        .security_events(ada.id, &first.next(&page.next_page_token).unwrap())
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|entry| entry.created_at)
            .collect::<Vec<_>>(),
        vec![1_000]
    );
    assert!(rest.next_page_token.is_empty());
}

/// Throttle state: failures count exactly (also concurrently), a block applies to every
/// query naming the key, success and idleness forget.
async fn throttle(store: &dyn IdentityStore) {
    let key = format!("login:{}", unique_email());
    let other = format!("login-ip:{}", uuid::Uuid::now_v7());
    let block_after_two =
        |failures: i64, free: u32| (failures > i64::from(free)).then_some(10_000 + failures);
    let fail = |key: String, now: i64| async move {
        store
            .throttle_failures(&[(key.as_str(), 2)], now, &block_after_two)
            .await
            .unwrap()[0]
    };
    for expected in 1..=2 {
        assert_eq!(fail(key.clone(), 1_000).await, expected);
    }
    let keys = [key.clone(), other.clone()];
    assert_eq!(
        store.throttle_blocked_until(&keys, 1_000).await.unwrap(),
        None
    );
    assert_eq!(fail(key.clone(), 1_001).await, 3);
    assert_eq!(
        store.throttle_blocked_until(&keys, 1_001).await.unwrap(),
        Some(10_003)
    );
    assert_eq!(
        store.throttle_blocked_until(&keys, 20_000).await.unwrap(),
        None,
        "a block ends"
    );
    assert_eq!(
        store
            .throttle_blocked_until(std::slice::from_ref(&other), 1_001)
            .await
            .unwrap(),
        None,
        "other keys are unaffected"
    );
    // Concurrent failures all count.
    let concurrent = concurrent_failures(store, &other, 8).await;
    assert_eq!(concurrent, 8);
    // Several keys count in one write, each with its own allowance.
    let fresh = format!("login-ip:{}", uuid::Uuid::now_v7());
    assert_eq!(
        store
            .throttle_failures(
                &[(other.as_str(), 100), (fresh.as_str(), 0)],
                1_300,
                &block_after_two
            )
            .await
            .unwrap(),
        vec![9, 1]
    );
    assert_eq!(
        store
            .throttle_blocked_until(std::slice::from_ref(&fresh), 1_300)
            .await
            .unwrap(),
        Some(10_001),
        "a key allowing no failure blocks at the first"
    );
    store.throttle_clear(&key).await.unwrap();
    assert_eq!(fail(key.clone(), 2_000).await, 1, "a success forgets");
    // Idle keys are purged; recent ones stay.
    assert!(store.throttle_purge(1_500).await.unwrap() >= 1);
    assert_eq!(
        fail(key.clone(), 2_001).await,
        2,
        "the recent key survived the purge"
    );
}

/// Runs `count` failures of `key` at once; returns the highest count any of them saw.
async fn concurrent_failures(store: &dyn IdentityStore, key: &str, count: usize) -> i64 {
    let none = |_: i64, _: u32| None;
    let keys = [(key, 0)];
    let calls = (0..count).map(|_| store.throttle_failures(&keys, 1_200, &none));
    let mut highest = 0;
    for result in join_all(calls).await {
        highest = highest.max(result.unwrap()[0]);
    }
    highest
}

/// Polls every future to completion concurrently (no extra dependency for one helper).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

async fn users(store: &dyn IdentityStore) {
    let email = unique_email();
    let ada = user(&email);
    store.create_user(&ada, Effects::none()).await.unwrap();
    assert_eq!(
        store.user_by_email(&email).await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.user_by_id(ada.id).await.unwrap(), Some(ada.clone()));
    let duplicate = UserRecord {
        id: UserId::new(),
        ..ada.clone()
    };
    assert!(matches!(
        store.create_user(&duplicate, Effects::none()).await,
        Err(IdentityError::EmailTaken)
    ));
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );

    let renamed = store
        .update_display_name(ada.id, "Ada L.", Some(1), 2_000)
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.display_name.as_str(),
            renamed.version,
            renamed.updated_at
        ),
        ("Ada L.", 2, 2_000)
    );
    assert!(matches!(
        store
            .update_display_name(ada.id, "Stale", Some(1), 3_000)
            .await,
        Err(IdentityError::EtagMismatch)
    ));
    assert_eq!(
        store
            .update_display_name(ada.id, "Any", None, 3_000)
            .await
            .unwrap()
            .version,
        3
    );
}

async fn sessions_and_refresh_rotation(store: &dyn IdentityStore) {
    let ada = user(&unique_email());
    store.create_user(&ada, Effects::none()).await.unwrap();
    let now = 10_000;
    let first = session(ada.id, now);
    store
        .create_session(&first, b"refresh-1", Effects::none())
        .await
        .unwrap();
    assert_eq!(store.session(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        store
            .session_by_refresh(b"refresh-1")
            .await
            .unwrap()
            .map(|(s, used)| (s.id, used)),
        Some((first.id, false))
    );

    // Rotation: the old token is used, the new one works, the scope and idle expiry move.
    let organization = OrganizationId::new();
    let outcome = store
        .rotate_refresh(
            b"refresh-1",
            b"refresh-2",
            (Some(organization), Some("admin".into())),
            5_000,
            now + 1,
            &no_events,
        )
        .await
        .unwrap();
    let RefreshOutcome::Rotated(rotated) = outcome else {
        panic!("expected rotation, got {outcome:?}")
    };
    assert_eq!(rotated.organization_id, Some(organization));
    assert_eq!(rotated.role.as_deref(), Some("admin"));
    assert_eq!(rotated.idle_expires_at, now + 1 + 5_000);
    assert!(matches!(
        store
            .rotate_refresh(
                b"refresh-2",
                b"refresh-3",
                (None, None),
                5_000,
                now + 2,
                &no_events
            )
            .await
            .unwrap(),
        RefreshOutcome::Rotated(_)
    ));

    assert_eq!(
        store
            .session_by_refresh(b"refresh-1")
            .await
            .unwrap()
            .map(|(_, used)| used),
        Some(true)
    );
    // Reuse of a used token revokes the whole family, and the newest token dies with it.
    let outcome = store
        .rotate_refresh(
            b"refresh-1",
            b"refresh-x",
            (None, None),
            5_000,
            now + 3,
            &no_events,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RefreshOutcome::Reused(_)), "{outcome:?}");
    let revoked = store.session(first.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoke_reason.as_deref(), Some("reuse_detected"));
    assert_eq!(
        store
            .rotate_refresh(
                b"refresh-3",
                b"refresh-4",
                (None, None),
                5_000,
                now + 4,
                &no_events
            )
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh(
                b"unknown",
                b"refresh-5",
                (None, None),
                5_000,
                now,
                &no_events
            )
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );

    // Idle expiry ends a session.
    let idle = session(ada.id, now);
    store
        .create_session(&idle, b"idle-1", Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh(
                b"idle-1",
                b"idle-2",
                (None, None),
                5_000,
                now + 20_000,
                &no_events
            )
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );

    // Listing shows active sessions only, newest first, paginated.
    let second = session(ada.id, now + 50);
    let third = session(ada.id, now + 60);
    store
        .create_session(&second, b"second-1", Effects::none())
        .await
        .unwrap();
    store
        .create_session(&third, b"third-1", Effects::none())
        .await
        .unwrap();
    let page = store
        .list_sessions(ada.id, now + 100, &PageRequest::first(1, NEWEST_FIRST))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![third.id]
    );
    let rest = store
        .list_sessions(
            ada.id,
            now + 100,
            &PageRequest::first(10, NEWEST_FIRST)
                .next(&page.next_page_token)
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(rest.next_page_token.is_empty());
    assert_eq!(
        rest.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![second.id, idle.id]
    );

    // Re-scoping uses every outstanding refresh token of the session.
    let rescoped = store
        .rescope_session(
            second.id,
            (Some(organization), Some("member".into())),
            b"second-2",
            5_000,
            now + 70,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rescoped.organization_id, Some(organization));
    assert!(matches!(
        store
            .rotate_refresh(b"second-1", b"z", (None, None), 5_000, now + 71, &no_events)
            .await
            .unwrap(),
        RefreshOutcome::Reused(_)
    ));

    // Revoking: own sessions only, once.
    let other = user(&unique_email());
    store.create_user(&other, Effects::none()).await.unwrap();
    assert!(
        !store
            .revoke_session(
                other.id,
                third.id,
                "user_revoked",
                now + 80,
                Effects::none()
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_session(ada.id, third.id, "user_revoked", now + 80, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(ada.id, third.id, "user_revoked", now + 81, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        store
            .list_sessions(ada.id, now + 100, &PageRequest::first(10, NEWEST_FIRST))
            .await
            .unwrap()
            .items
            .iter()
            .all(|s| s.id != third.id)
    );
}

async fn personal_access_tokens(store: &dyn IdentityStore) {
    let ada = user(&unique_email());
    store.create_user(&ada, Effects::none()).await.unwrap();
    let organization = OrganizationId::new();
    let token = |id: &str, request: Option<&str>, created: i64| PersonalAccessTokenRecord {
        id: id.into(),
        user_id: ada.id,
        organization_id: organization,
        name: "ci".into(),
        scope: "read_only".into(),
        token_prefix: "tmpat_abcdef".into(),
        request_id: request.map(str::to_string),
        created_at: created,
        expires_at: Some(created + 1_000_000),
        last_used_at: None,
        revoked_at: None,
    };
    let first = token(&uuid::Uuid::now_v7().to_string(), Some("req-1"), 100);
    store
        .create_personal_access_token(&first, b"pat-1", 2, 100, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .personal_access_token_by_request(ada.id, "req-1")
            .await
            .unwrap(),
        Some(first.clone())
    );
    let second = token(&uuid::Uuid::now_v7().to_string(), None, 200);
    store
        .create_personal_access_token(&second, b"pat-2", 2, 200, Effects::none())
        .await
        .unwrap();
    let third = token(&uuid::Uuid::now_v7().to_string(), None, 300);
    assert!(matches!(
        store
            .create_personal_access_token(&third, b"pat-3", 2, 300, Effects::none())
            .await,
        Err(IdentityError::QuotaExceeded)
    ));

    let used = store
        .use_personal_access_token(b"pat-1", 500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(500));
    assert!(used.is_active(500));
    assert_eq!(
        store.use_personal_access_token(b"nope", 500).await.unwrap(),
        None
    );
    let soon = store
        .use_personal_access_token(b"pat-1", 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        soon.last_used_at,
        Some(500),
        "recorded at most once a minute"
    );
    let later = store
        .use_personal_access_token(b"pat-1", 61_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.last_used_at, Some(61_000));

    let listed = store
        .list_personal_access_tokens(ada.id, &PageRequest::first(10, NEWEST_FIRST))
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        vec![second.id.clone(), first.id.clone()]
    );

    assert!(
        store
            .revoke_personal_access_token(ada.id, &first.id, 600, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_personal_access_token(ada.id, &first.id, 601, Effects::none())
            .await
            .unwrap()
    );
    let revoked = store
        .use_personal_access_token(b"pat-1", 700)
        .await
        .unwrap()
        .unwrap();
    assert!(!revoked.is_active(700));
    // A revoked token frees its quota slot.
    store
        .create_personal_access_token(&third, b"pat-3", 2, 800, Effects::none())
        .await
        .unwrap();
}

async fn signing_keys(store: &dyn IdentityStore) {
    let key = |kid: &str, created: i64| SigningKeyRecord {
        kid: kid.into(),
        seed: vec![7; 32],
        created_at: created,
        retired_at: None,
    };
    let first = format!("k-{}", uuid::Uuid::now_v7().simple());
    let second = format!("k-{}", uuid::Uuid::now_v7().simple());
    store
        .rotate_signing_key(&key(&first, 1_000), 1_000)
        .await
        .unwrap();
    store
        .rotate_signing_key(&key(&second, 2_000), 2_000)
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let find = |kid: &str| keys.iter().find(|k| k.kid == kid).cloned().unwrap();
    assert_eq!(find(&second).retired_at, None, "the newest key signs");
    assert_eq!(
        find(&first).retired_at,
        Some(2_000),
        "the previous key is retired, not deleted"
    );
    assert_eq!(find(&first).seed, vec![7; 32]);
    assert!(
        store.delete_retired_keys(1_500).await.unwrap() == 0
            || !store
                .signing_keys()
                .await
                .unwrap()
                .iter()
                .any(|k| k.kid == second)
    );
    store.delete_retired_keys(2_001).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert!(keys.iter().all(|k| k.kid != first));
    assert!(keys.iter().any(|k| k.kid == second));
}

async fn passwords(store: &dyn IdentityStore) {
    let ada = user(&unique_email());
    store.create_user(&ada, Effects::none()).await.unwrap();
    let keep = session(ada.id, 1_000);
    let other = session(ada.id, 1_000);
    store
        .create_session(&keep, b"keep", Effects::none())
        .await
        .unwrap();
    store
        .create_session(&other, b"other", Effects::none())
        .await
        .unwrap();
    let revoked = store
        .set_password(
            ada.id,
            "$argon2id$new",
            Some(keep.id),
            "password_changed",
            2_000,
            &no_events,
        )
        .await
        .unwrap();
    assert_eq!(revoked, vec![other.id]);
    assert_eq!(
        store
            .user_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    assert!(
        store
            .session(keep.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    store
        .create_password_reset(ada.id, b"reset-1", 5_000, 2_000, Effects::none())
        .await
        .unwrap();
    store
        .create_password_reset(ada.id, b"reset-2", 5_000, 2_000, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .reset_password(b"reset-1", "$argon2id$reset", false, 6_000, &no_events)
            .await
            .unwrap(),
        None,
        "expired"
    );
    store
        .create_password_reset(ada.id, b"reset-3", 9_000, 6_000, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store.password_reset_user(b"reset-3", 7_000).await.unwrap(),
        Some(ada.id)
    );
    assert_eq!(
        store.password_reset_user(b"reset-1", 7_000).await.unwrap(),
        None,
        "expired"
    );
    // A personal access token dies with the reset (unless the user keeps them).
    let token = PersonalAccessTokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: ada.id,
        organization_id: OrganizationId::new(),
        name: "ci".into(),
        scope: "read_write".into(),
        token_prefix: "tmpat_reset".into(),
        request_id: None,
        created_at: 6_500,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_personal_access_token(&token, b"reset-pat", 50, 6_500, Effects::none())
        .await
        .unwrap();
    let reset = std::sync::Mutex::new(None);
    assert_eq!(
        store
            .reset_password(b"reset-3", "$argon2id$reset", false, 7_000, &|done| {
                *reset.lock().unwrap() = Some(done.clone());
                Effects::none()
            })
            .await
            .unwrap(),
        Some(ada.id)
    );
    let reset = reset.into_inner().unwrap().unwrap();
    assert_eq!(reset.revoked_tokens, vec![token.id.clone()]);
    assert!(
        !store
            .use_personal_access_token(b"reset-pat", 7_000)
            .await
            .unwrap()
            .unwrap()
            .is_active(7_000)
    );
    // Kept on request.
    let kept = PersonalAccessTokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        ..token
    };
    store
        .create_personal_access_token(&kept, b"kept-pat", 50, 7_100, Effects::none())
        .await
        .unwrap();
    store
        .create_password_reset(ada.id, b"reset-4", 9_000, 7_100, Effects::none())
        .await
        .unwrap();
    store
        .reset_password(b"reset-4", "$argon2id$reset", true, 7_200, &no_events)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .use_personal_access_token(b"kept-pat", 7_200)
            .await
            .unwrap()
            .unwrap()
            .is_active(7_200)
    );
    assert_eq!(
        store
            .reset_password(b"reset-3", "$argon2id$again", false, 7_001, &no_events)
            .await
            .unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        store
            .user_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$reset"
    );
    assert!(
        store
            .session(keep.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "a reset ends every session"
    );
}
