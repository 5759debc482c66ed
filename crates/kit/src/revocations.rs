//! Keeps a process's [`Revocations`] current from identity's `CredentialRevoked` events.
//!
//! Every process follows the revocation subject with a consumer of its own (ephemeral:
//! broadcast, not shared by replicas), starting one [`HORIZON`] back so a process that
//! starts late still knows what was revoked while the tokens in circulation were issued.
//! When the bus cannot be reached it keeps trying; until then the process refuses only what
//! it already knew (identity still refuses revoked sessions and tokens itself).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use events::{Bus, ConsumerConfig, EventMessage, StartAt};
use mesh::auth::revocations::HORIZON;
use mesh::auth::{Revocations, Revoked};
use mesh::server::Shutdown;
use prost::{Message, Name};
use taskmesh::events::v1::CredentialRevoked;
use taskmesh::events::v1::credential_revoked::Credential;

/// Follows `subject` on `bus` into `revocations` until `shutdown`.
pub async fn follow(
    bus: Arc<dyn Bus>,
    subject: &str,
    revocations: Arc<Revocations>,
    shutdown: Shutdown,
) {
    let config = ConsumerConfig {
        name: format!("revocations-{}", uuid::Uuid::now_v7().simple()),
        filter_subjects: vec![subject.to_string()],
        ack_wait: Duration::from_secs(30),
        ephemeral: true,
        start: StartAt::Since(SystemTime::now() - HORIZON),
    };
    loop {
        let mut subscription = match bus.subscribe(&config).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(%error, "cannot follow credential revocations yet; retrying");
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let delivery = tokio::select! {
                () = shutdown.wait() => return,
                delivery = subscription.next() => delivery,
            };
            match delivery {
                Ok(delivery) => {
                    apply(&delivery.message, &revocations);
                    if let Err(error) = delivery.ack().await {
                        tracing::debug!(%error, "revocation ack failed");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "credential revocations interrupted; resubscribing");
                    break;
                }
            }
        }
    }
}

/// Records the revocation an event announces; anything else is ignored.
pub fn apply(message: &EventMessage, revocations: &Revocations) {
    let Ok(envelope) = events::envelope::decode(message) else {
        return;
    };
    if envelope.payload_type != CredentialRevoked::full_name() {
        return;
    }
    let Ok(payload) = CredentialRevoked::decode(envelope.payload.as_slice()) else {
        return;
    };
    let at = envelope
        .occurred_at
        .and_then(|time| SystemTime::try_from(time).ok())
        .unwrap_or_else(SystemTime::now);
    let credential = match payload.credential {
        Some(Credential::SessionId(id)) => match id.parse() {
            Ok(session) => Revoked::Session(session),
            Err(_) => return,
        },
        Some(Credential::PersonalAccessTokenId(id)) => Revoked::PersonalAccessToken(id),
        None => return,
    };
    revocations.revoke(credential, at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh::auth::{Principal, Scope, TokenKind};
    use mesh::ids::{SessionId, UserId};

    #[tokio::test]
    async fn a_revocation_event_reaches_the_set_through_the_bus() {
        const TOPIC: crate::Topic<CredentialRevoked> =
            crate::Topic::new("taskmesh.identity.credential.revoked");
        let bus: Arc<dyn Bus> = Arc::new(events::memory::InProcessBus::default());
        let revocations = Arc::new(Revocations::new());
        let shutdown = Shutdown::new();
        let follower = tokio::spawn(follow(
            bus.clone(),
            TOPIC.subject(),
            revocations.clone(),
            shutdown.clone(),
        ));
        let session = SessionId::new();
        let message = TOPIC
            .event(
                "users/x",
                &CredentialRevoked {
                    user_id: UserId::new().to_string(),
                    credential: Some(Credential::SessionId(session.to_string())),
                },
            )
            .build();
        bus.publish(&message).await.unwrap();
        let principal = Principal {
            user_id: UserId::new(),
            organization_id: None,
            role: None,
            token_kind: TokenKind::Access,
            scope: Scope::ReadWrite,
            session_id: Some(session),
            token_id: "jti".into(),
            expires_at: None,
        };
        tokio::time::timeout(Duration::from_secs(30), revocations.revoked(&principal))
            .await
            .expect("the revocation never arrived");
        shutdown.trigger();
        follower.await.unwrap();
    }
}
