//! The webhook delivery worker against a real loopback receiver: signed requests a receiver
//! can verify on its own, one replica at a time, deliveries that outlive a lost worker, and
//! the network guard at delivery time (an address literal and a name that resolves inside).

use std::sync::Arc;

use kit::Storage;
use mesh::ids::{OrganizationId, UserId};
use mesh::testing_http::{receiver, standard_webhook_signatures};
use notifications::domain::signing::{SecretKey, SigningSecret};
use notifications::domain::webhooks::{DeliveryState, EndpointState, RETRY_DELAYS};
use notifications::store::sql::SqlNotificationsStore;
use notifications::store::webhooks::{DeliveryRecord, EndpointRecord, WebhooksStore};
use notifications::webhooks::{Deliverer, Guard, Sender};

struct World {
    store: Arc<SqlNotificationsStore>,
    key: Arc<SecretKey>,
    organization: OrganizationId,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (database, dir) =
        mesh::testing::sqlite(&[&notifications::migrations(), &events::migrations()]).await;
    World {
        store: Arc::new(SqlNotificationsStore(Storage::detached(database))),
        key: Arc::new(SecretKey::from_base64(&kit::keys::generate_base64().unwrap()).unwrap()),
        organization: OrganizationId::new(),
        _dir: dir,
    }
}

impl World {
    fn deliverer(&self, allowed: &[&str]) -> Deliverer {
        let guard = Guard::new(allowed.iter().map(|net| net.parse().unwrap()).collect());
        Deliverer {
            store: self.store.clone(),
            sender: Sender::new(guard).unwrap(),
            key: self.key.clone(),
            delays: Arc::new(RETRY_DELAYS.to_vec()),
        }
    }

    /// An endpoint at `url` and its secret.
    async fn endpoint(&self, url: &str) -> (EndpointRecord, String) {
        let id = uuid::Uuid::now_v7().to_string();
        let secret = SigningSecret::generate().unwrap();
        let now = mesh::time::now_millis();
        let record = EndpointRecord {
            secret_sealed: self.key.seal(&id, &secret).unwrap(),
            id,
            organization_id: self.organization,
            project_id: None,
            url: url.into(),
            description: String::new(),
            event_types: "*".into(),
            state: EndpointState::Enabled.as_str().into(),
            previous_secret_sealed: None,
            previous_secret_expires_at: None,
            created_by_user_id: UserId::new(),
            failing_since: None,
            create_request_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store.create_endpoint(&record, 20).await.unwrap();
        (record, secret.reveal())
    }

    async fn queue(&self, endpoint: &EndpointRecord, event: &str, at: i64) -> DeliveryRecord {
        let delivery = DeliveryRecord {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: self.organization,
            endpoint_id: endpoint.id.clone(),
            event_id: event.into(),
            event_type: "taskmesh.projects.task.created".into(),
            body: format!(r#"{{"id":"{event}","type":"taskmesh.projects.task.created"}}"#),
            status: DeliveryState::Pending.as_str().into(),
            attempt_count: 0,
            response_status_code: 0,
            latency_ms: 0,
            next_attempt_at: Some(at),
            last_attempt_at: None,
            error: String::new(),
            request_id: None,
            created_by_user_id: None,
            created_at: at,
        };
        self.store.queue_delivery(&delivery).await.unwrap();
        delivery
    }

    async fn delivery(&self, id: &str) -> DeliveryRecord {
        self.store
            .delivery(self.organization, id)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn one_worker_attempts_each_delivery_and_the_receiver_verifies_its_signature() {
    let world = world().await;
    let mut receiver = receiver(vec![200]).await;
    let (endpoint, secret) = world.endpoint(&receiver.url).await;
    let now = mesh::time::now_millis();
    let delivery = world.queue(&endpoint, "event-1", now).await;
    // Two replicas drain the same schedule at the same moment.
    let (first, second) = (
        world.deliverer(&["127.0.0.0/8"]),
        world.deliverer(&["127.0.0.0/8"]),
    );
    let (a, b) = tokio::join!(first.drain(now), second.drain(now));
    a.unwrap();
    b.unwrap();
    let request = receiver.next(10).await;
    assert!(receiver.requests.try_recv().is_err(), "attempted twice");
    assert_eq!(request.method, "POST");
    assert_eq!(request.headers["webhook-id"], "event-1");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["user-agent"], "taskmesh-webhooks/1");
    assert_eq!(standard_webhook_signatures(&secret, &request), 1);
    let other = SigningSecret::generate().unwrap().reveal();
    assert_eq!(standard_webhook_signatures(&other, &request), 0);
    let done = world.delivery(&delivery.id).await;
    assert_eq!(
        (
            done.status.as_str(),
            done.attempt_count,
            done.response_status_code
        ),
        ("succeeded", 1, 200)
    );
}

#[tokio::test]
async fn a_delivery_outlives_a_worker_that_vanished_mid_attempt() {
    let world = world().await;
    let mut receiver = receiver(vec![500, 200]).await;
    let (endpoint, _) = world.endpoint(&receiver.url).await;
    let now = mesh::time::now_millis();
    let delivery = world.queue(&endpoint, "event-2", now).await;
    // A replica claims it and is killed before recording anything.
    assert!(
        world
            .store
            .claim_delivery(&delivery.id, now, now + 60_000)
            .await
            .unwrap()
    );
    let survivor = world.deliverer(&["127.0.0.0/8"]);
    survivor.drain(now + 1).await.unwrap();
    assert!(
        receiver.requests.try_recv().is_err(),
        "taken while another replica held it"
    );
    // Its lease runs out: the survivor (or a restarted process) takes it.
    survivor.drain(now + 60_001).await.unwrap();
    assert_eq!(receiver.next(10).await.answered, 500);
    let retrying = world.delivery(&delivery.id).await;
    assert_eq!(retrying.status, "retrying");
    let next = retrying.next_attempt_at.unwrap();
    assert!(next >= now + 5_000, "the first retry waits about 5 s");
    survivor.drain(next).await.unwrap();
    assert_eq!(receiver.next(10).await.answered, 200);
    let done = world.delivery(&delivery.id).await;
    assert_eq!((done.status.as_str(), done.attempt_count), ("succeeded", 2));
    let attempts = world
        .store
        .attempts(world.organization, std::slice::from_ref(&delivery.id))
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.response_status_code)
            .collect::<Vec<_>>(),
        vec![500, 200]
    );
}

#[tokio::test]
async fn the_guard_refuses_internal_addresses_at_delivery_time() {
    let world = world().await;
    let mut receiver = receiver(vec![200]).await;
    let port = receiver
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook")
        .to_string();
    // Endpoints stored while an allow-list admitted them (or a name that later resolves
    // inside): without the allow-list, nothing is sent.
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let (endpoint, _) = world.endpoint(&url).await;
        let now = mesh::time::now_millis();
        let delivery = world.queue(&endpoint, &format!("event-{url}"), now).await;
        world.deliverer(&[]).drain(now).await.unwrap();
        let refused = world.delivery(&delivery.id).await;
        assert!(
            refused.error.starts_with("address not allowed"),
            "{url}: {}",
            refused.error
        );
        assert_eq!(refused.response_status_code, 0);
        world
            .store
            .delete_endpoint(world.organization, &endpoint.id, None)
            .await
            .unwrap();
    }
    assert!(
        receiver.requests.try_recv().is_err(),
        "a refused address was called"
    );
    // Redirects are not followed: a 3xx is a failed attempt.
    let mut redirecting = mesh::testing_http::receiver(vec![302]).await;
    let (endpoint, _) = world.endpoint(&redirecting.url).await;
    let now = mesh::time::now_millis();
    let delivery = world.queue(&endpoint, "event-redirect", now).await;
    world.deliverer(&["127.0.0.1/32"]).drain(now).await.unwrap();
    assert_eq!(redirecting.next(10).await.answered, 302);
    let failed = world.delivery(&delivery.id).await;
    assert_eq!(failed.error, "redirect not followed (HTTP 302)");
    assert_eq!(failed.status, "retrying");
}

#[tokio::test]
async fn an_attempt_to_a_receiver_that_never_answers_ends_at_its_timeout() {
    // Accepts connections and reads, but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = held_tx.send(stream);
        }
    });
    let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let sender = Sender::with_timeout(guard, std::time::Duration::from_millis(300)).unwrap();
    let secret = SigningSecret::generate().unwrap();
    let outcome = sender.attempt(&url, "event-1", "{}", &[secret]).await;
    assert!(held.try_recv().is_ok(), "the receiver was not reached");
    assert_eq!(
        (outcome.status, outcome.error.as_str(), outcome.reason),
        (0, "timeout after 0.3s", "timeout")
    );
}
