//! Token verification, including the attacks RFC 8725 warns about.

use super::*;
use crate::ids::{OrganizationId, UserId};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: "taskmesh".into(),
        aud: "taskmesh".into(),
        sub: UserId::new().to_string(),
        org: Some(OrganizationId::new().to_string()),
        role: Some("admin".into()),
        typ: ACCESS_TOKEN_TYPE.into(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: None,
    }
}

fn verifier_for(keys: Vec<PublicKey>) -> TokenVerifier {
    let cache = JwksCache::new(Arc::new(keys), Duration::ZERO);
    TokenVerifier::new("taskmesh", "taskmesh", Duration::from_secs(5), cache)
}

#[tokio::test]
async fn a_valid_token_yields_its_principal() {
    let key = SigningKey::generate("k1");
    let claims = claims();
    let token = key.sign(&claims).unwrap();
    let principal = verifier_for(vec![key.public_key()])
        .verify(&token)
        .await
        .unwrap();
    assert_eq!(principal.user_id.to_string(), claims.sub);
    assert_eq!(principal.role, Some(OrganizationRole::Admin));
    assert_eq!(principal.token_kind, TokenKind::Access);
    // Long calls (streams) end when the token does.
    assert_eq!(principal.expires_at, Some(claims.exp as i64 * 1000));
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let key = SigningKey::generate("k1");
    let mut claims = claims();
    claims.iat -= 3_600;
    claims.nbf -= 3_600;
    claims.exp = now() - 600;
    let token = key.sign(&claims).unwrap();
    let error = verifier_for(vec![key.public_key()])
        .verify(&token)
        .await
        .unwrap_err();
    assert_eq!(error, AuthError::Expired);
}

#[tokio::test]
async fn not_yet_valid_tokens_are_refused() {
    let key = SigningKey::generate("k1");
    let mut claims = claims();
    claims.nbf = now() + 600;
    let token = key.sign(&claims).unwrap();
    assert!(
        verifier_for(vec![key.public_key()])
            .verify(&token)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_refused() {
    let key = SigningKey::generate("k1");
    let verifier = verifier_for(vec![key.public_key()]);
    let mut wrong_audience = claims();
    wrong_audience.aud = "someone-else".into();
    let mut wrong_issuer = claims();
    wrong_issuer.iss = "evil".into();
    for claims in [wrong_audience, wrong_issuer] {
        let token = key.sign(&claims).unwrap();
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::Invalid
        );
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let key = SigningKey::generate("k1");
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    let token = format!("{header}.{body}.");
    assert_eq!(
        verifier_for(vec![key.public_key()])
            .verify(&token)
            .await
            .unwrap_err(),
        AuthError::Invalid
    );
}

#[tokio::test]
async fn hmac_with_the_public_key_is_refused() {
    // The classic algorithm-confusion attack: sign HS256 with the public key bytes.
    let key = SigningKey::generate("k1");
    let public = key.public_key();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    header.typ = Some(ACCESS_TOKEN_HEADER_TYPE.into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(public.x.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier_for(vec![public]).verify(&token).await.unwrap_err(),
        AuthError::Invalid
    );
}

#[tokio::test]
async fn unknown_kid_is_refused_after_a_refresh() {
    let published = SigningKey::generate("k1");
    let attacker = SigningKey::generate("k2");
    let token = attacker.sign(&claims()).unwrap();
    assert_eq!(
        verifier_for(vec![published.public_key()])
            .verify(&token)
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn a_key_forged_under_a_known_kid_is_refused() {
    let published = SigningKey::generate("k1");
    let forged = SigningKey::generate("k1");
    let token = forged.sign(&claims()).unwrap();
    assert_eq!(
        verifier_for(vec![published.public_key()])
            .verify(&token)
            .await
            .unwrap_err(),
        AuthError::Invalid
    );
}

#[tokio::test]
async fn tampered_payloads_are_refused() {
    let key = SigningKey::generate("k1");
    let token = key.sign(&claims()).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut tampered = claims();
    tampered.role = Some("owner".into());
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    let token = parts.join(".");
    assert_eq!(
        verifier_for(vec![key.public_key()])
            .verify(&token)
            .await
            .unwrap_err(),
        AuthError::Invalid
    );
}

#[tokio::test]
async fn wrong_token_type_is_refused() {
    let key = SigningKey::generate("k1");
    let mut claims = claims();
    claims.typ = "refresh".into();
    let token = key.sign(&claims).unwrap();
    assert_eq!(
        verifier_for(vec![key.public_key()])
            .verify(&token)
            .await
            .unwrap_err(),
        AuthError::Invalid
    );
}

/// A key source whose keys can change, counting fetches.
struct RotatingSource {
    keys: std::sync::Mutex<Vec<PublicKey>>,
    fetches: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl KeySource for RotatingSource {
    async fn fetch_keys(&self) -> Result<Vec<PublicKey>, AuthError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.keys.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_unknown_kid_and_refreshes_are_throttled() {
    let old = SigningKey::generate("old");
    let new = SigningKey::generate("new");
    let source = Arc::new(RotatingSource {
        keys: std::sync::Mutex::new(vec![old.public_key()]),
        fetches: Default::default(),
    });
    let cache = JwksCache::new(source.clone(), Duration::from_secs(3_600));
    let verifier = TokenVerifier::new("taskmesh", "taskmesh", Duration::from_secs(5), cache);
    verifier
        .verify(&old.sign(&claims()).unwrap())
        .await
        .unwrap();
    assert_eq!(source.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);

    // identity rotates; the first token with the new kid arrives within the throttle
    // window, so it is refused without hammering the source.
    source.keys.lock().unwrap().push(new.public_key());
    let new_token = new.sign(&claims()).unwrap();
    assert_eq!(
        verifier.verify(&new_token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(source.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);

    let eager = TokenVerifier::new(
        "taskmesh",
        "taskmesh",
        Duration::from_secs(5),
        JwksCache::new(source.clone(), Duration::ZERO),
    );
    eager.verify(&old.sign(&claims()).unwrap()).await.unwrap();
    eager.verify(&new_token).await.unwrap();
}

/// A verified token is remembered, so the same bytes are not checked again; a tampered copy
/// of a remembered token is different bytes and is still verified, and refused.
#[tokio::test]
async fn a_remembered_token_does_not_vouch_for_a_tampered_copy() {
    let key = SigningKey::generate("k1");
    let token = key.sign(&claims()).unwrap();
    let verifier = verifier_for(vec![key.public_key()]);
    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.verified.get(&token), Some(first.clone()));
    assert_eq!(verifier.verify(&token).await.unwrap(), first);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut tampered = claims();
    tampered.sub = first.user_id.to_string();
    tampered.role = Some("owner".into());
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    assert_eq!(
        verifier.verify(&parts.join(".")).await.unwrap_err(),
        AuthError::Invalid
    );
}

/// A token about to expire is remembered no longer than it is valid.
#[tokio::test]
async fn a_token_is_not_remembered_past_its_expiry() {
    let key = SigningKey::generate("k1");
    let mut claims = claims();
    // Expired, but within the verifier's 5 s leeway: accepted, and not remembered.
    claims.exp = now() - 2;
    let token = key.sign(&claims).unwrap();
    let verifier = verifier_for(vec![key.public_key()]);
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.verified.get(&token), None);
}
