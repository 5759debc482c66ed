//! Signing-key rotation: a rotated key keeps verifying the tokens it signed until they have
//! expired, new tokens use the new key, and the JWKS drops keys nobody can still present.

use std::sync::Arc;
use std::time::Duration;

use identity::keys::{Keys, LocalKeySource};
use identity::store::IdentityStore;
use identity::store::sql::SqlIdentityStore;
use mesh::auth::{AccessClaims, JwksCache, TokenVerifier};
use mesh::db::Database;

fn claims() -> AccessClaims {
    let now = (mesh::time::now_millis() / 1_000) as u64;
    AccessClaims {
        iss: "taskmesh".into(),
        aud: "taskmesh".into(),
        sub: mesh::ids::UserId::new().to_string(),
        org: None,
        role: None,
        typ: "access".into(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: None,
    }
}

#[tokio::test]
async fn rotated_keys_stay_published_until_their_tokens_expire() {
    let (database, _dir) = mesh::testing::sqlite(&[&identity::migrations()]).await;
    let store: Arc<dyn IdentityStore> =
        Arc::new(SqlIdentityStore(kit::Storage::detached(database.clone())));
    let day = Duration::from_secs(86_400);
    let access_ttl = Duration::from_secs(900);

    let keys = Arc::new(Keys::load(store.clone(), day, access_ttl).await.unwrap());
    let first = keys.current().await;
    let old_token = first.sign(&claims()).unwrap();
    // Loading again (a restart, another replica) reuses the current key.
    assert_eq!(
        Keys::load(store.clone(), day, access_ttl)
            .await
            .unwrap()
            .current()
            .await
            .kid(),
        first.kid()
    );

    keys.rotate().await.unwrap();
    let second = keys.current().await;
    assert_ne!(second.kid(), first.kid());
    let mut published: Vec<String> = keys
        .published()
        .await
        .unwrap()
        .into_iter()
        .map(|key| key.kid)
        .collect();
    published.sort();
    let mut expected = vec![first.kid().to_string(), second.kid().to_string()];
    expected.sort();
    assert_eq!(published, expected, "the retired key stays published");

    let verifier = TokenVerifier::new(
        "taskmesh",
        "taskmesh",
        Duration::from_secs(5),
        JwksCache::new(Arc::new(LocalKeySource(keys.clone())), Duration::ZERO),
    );
    verifier
        .verify(&old_token)
        .await
        .expect("a token signed before rotation still verifies");
    verifier
        .verify(&second.sign(&claims()).unwrap())
        .await
        .unwrap();

    // Once the old key has been retired longer than a token lives (plus skew), it goes.
    let Database::Sqlite(pool) = &database else {
        unreachable!()
    };
    sqlx::query("update signing_keys set retired_at = retired_at - 3600000 where kid = $1")
        .bind(first.kid())
        .execute(pool)
        .await
        .unwrap();
    keys.maintain().await.unwrap();
    let published: Vec<String> = keys
        .published()
        .await
        .unwrap()
        .into_iter()
        .map(|key| key.kid)
        .collect();
    assert_eq!(published, vec![second.kid().to_string()]);

    // A key older than the rotation period is replaced at load time.
    let rotated = Keys::load(store, Duration::ZERO, access_ttl).await.unwrap();
    assert_ne!(rotated.current().await.kid(), second.kid());
}

/// `/.well-known/jwks.json` and GetJwks are public: they must not cost a database read each.
/// After the first read, the keys are removed behind the cache's back; the published set
/// still answers from memory (until the refresh interval, far longer than this test).
#[tokio::test]
async fn the_published_keys_are_served_from_memory() {
    let (database, _dir) = mesh::testing::sqlite(&[&identity::migrations()]).await;
    let store: Arc<dyn IdentityStore> =
        Arc::new(SqlIdentityStore(kit::Storage::detached(database.clone())));
    let day = Duration::from_secs(86_400);
    let keys = Keys::load(store, day, Duration::from_secs(900))
        .await
        .unwrap();
    let first = keys.published().await.unwrap();
    assert_eq!(first.len(), 1);
    let Database::Sqlite(pool) = &database else {
        unreachable!()
    };
    sqlx::query("delete from signing_keys")
        .execute(pool)
        .await
        .unwrap();
    for _ in 0..100 {
        assert_eq!(keys.published().await.unwrap(), first);
    }
    // A rotation is seen at once (it refreshes the set).
    keys.rotate().await.unwrap();
    assert_eq!(keys.published().await.unwrap().len(), 1);
}
