//! The event backbone end to end: outbox → relay → bus → idempotent consumer, on every
//! available database and bus.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use events::bus::{Bus, Delivery, EventMessage};
use events::consumer::Outcome;
use events::outbox::{OutboxRelay, enqueue_postgres, enqueue_sqlite};
use events::{Consumer, EventBuilder};
use mesh::db::Database;
use mesh::ids::OrganizationId;
use support::*;

fn event(fixture: &Fixture, resource: &str) -> EventMessage {
    EventBuilder::new(
        fixture.subject("created"),
        resource,
        "google.protobuf.Empty",
        &(),
    )
    .tenant(OrganizationId::new())
    .build()
}

/// Inserts a row into `things` and enqueues `message`, in one transaction.
async fn change_with_event(database: &Database, message: &EventMessage, commit: bool) {
    let id = message.id.to_string();
    match database {
        Database::Sqlite(pool) => {
            let (_turn, mut tx) = mesh::db::begin_sqlite_write(pool).await.unwrap();
            sqlx::query("insert into things (id) values ($1)")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .unwrap();
            enqueue_sqlite(&mut tx, message).await.unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
        }
        Database::Postgres { pool, .. } => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("insert into things (id) values ($1)")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .unwrap();
            enqueue_postgres(&mut tx, message).await.unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
        }
    }
}

/// Steps the consumer until `done` says so, bounded in time.
async fn pump(
    consumer: &Consumer,
    subscription: &mut Box<dyn events::Subscription>,
    mut done: impl FnMut(Outcome) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let delivery = tokio::time::timeout(remaining, subscription.next())
            .await
            .expect("timed out waiting for a delivery")
            .expect("delivery");
        let outcome = consumer.process(delivery).await.expect("process");
        if done(outcome) {
            return;
        }
    }
}

#[tokio::test]
async fn an_event_exists_exactly_when_its_change_commits() {
    for fixture in fixtures("an_event_exists_exactly_when_its_change_commits").await {
        let relay = OutboxRelay::new(
            fixture.database.clone(),
            fixture.bus.clone(),
            Duration::from_secs(60),
        );
        change_with_event(&fixture.database, &event(&fixture, "a"), false).await;
        assert_eq!(
            relay.pending().await.unwrap(),
            0,
            "{}: rolled-back change left an event",
            fixture.label
        );
        assert_eq!(count(&fixture.database, "things").await, 0);
        change_with_event(&fixture.database, &event(&fixture, "b"), true).await;
        assert_eq!(relay.pending().await.unwrap(), 1, "{}", fixture.label);
        fixture.finish().await;
    }
}

#[tokio::test]
async fn relay_publishes_in_order_and_consumers_apply_each_event_once() {
    for fixture in fixtures("relay_publishes_in_order_and_consumers_apply_each_event_once").await {
        let messages: Vec<EventMessage> =
            (0..5).map(|i| event(&fixture, &format!("r{i}"))).collect();
        for message in &messages {
            change_with_event(&fixture.database, message, true).await;
        }
        let relay = OutboxRelay::new(
            fixture.database.clone(),
            fixture.bus.clone(),
            Duration::from_secs(60),
        );
        let report = relay.drain().await.unwrap();
        assert_eq!(report.published, 5, "{}", fixture.label);
        assert_eq!(relay.pending().await.unwrap(), 0);
        // Draining again publishes nothing.
        assert_eq!(relay.drain().await.unwrap().published, 0);

        let handler = Arc::new(RecordingHandler::default());
        let consumer = Consumer::new(
            fixture.consumer("applier"),
            fixture.bus.clone(),
            fixture.database.clone(),
            handler.clone(),
            3,
        );
        let mut subscription = fixture
            .bus
            .subscribe(&fixture.consumer("applier"))
            .await
            .unwrap();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < 5 {
            let delivery = tokio::time::timeout(deadline - Instant::now(), subscription.next())
                .await
                .expect("deliveries")
                .unwrap();
            seen.push(delivery.message.id);
            // Process a copy a second time as if the first ack had been lost: the inbox
            // must turn it into a no-op.
            let copy = Delivery::new(
                delivery.message.clone(),
                delivery.attempt + 1,
                Box::new(NoAck),
            );
            assert_eq!(consumer.process(delivery).await.unwrap(), Outcome::Applied);
            assert_eq!(consumer.process(copy).await.unwrap(), Outcome::Duplicate);
        }
        let published: Vec<_> = messages.iter().map(|m| m.id).collect();
        assert_eq!(seen, published, "{}: order differs", fixture.label);
        assert_eq!(count(&fixture.database, "effects").await, 5);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 5);

        // Publishing an already-published id again is accepted and not delivered twice.
        fixture.bus.publish(&messages[0]).await.unwrap();
        let extra = event(&fixture, "after");
        fixture.bus.publish(&extra).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            next.message.id, extra.id,
            "{}: duplicate publish was delivered",
            fixture.label
        );
        next.ack().await.unwrap();
        fixture.finish().await;
    }
}

struct NoAck;

#[async_trait::async_trait]
impl events::bus::Acker for NoAck {
    async fn ack(&self) -> Result<(), events::BusError> {
        Ok(())
    }
    async fn nak(&self, _delay: Duration) -> Result<(), events::BusError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_event_is_retried_then_dead_lettered() {
    // The test runs on one thread (current-thread runtime), so a thread-local recorder sees
    // the consumer's counters.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _recording = metrics::set_default_local_recorder(&recorder);
    for fixture in fixtures("a_failing_event_is_retried_then_dead_lettered").await {
        let poison = event(&fixture, "poison");
        fixture.bus.publish(&poison).await.unwrap();
        let handler = Arc::new(RecordingHandler::default());
        let consumer = Consumer::new(
            fixture.consumer("fragile"),
            fixture.bus.clone(),
            fixture.database.clone(),
            handler.clone(),
            3,
        );
        let mut dead_letters = fixture
            .bus
            .subscribe(&events::ConsumerConfig {
                name: "dlq-reader".into(),
                filter_subjects: vec![events::bus::dead_letter_subject(
                    &fixture.namespace,
                    "fragile",
                )],
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut subscription = fixture
            .bus
            .subscribe(&fixture.consumer("fragile"))
            .await
            .unwrap();
        let mut outcomes = Vec::new();
        pump(&consumer, &mut subscription, |outcome| {
            outcomes.push(outcome);
            outcome == Outcome::DeadLettered
        })
        .await;
        assert_eq!(
            outcomes,
            vec![Outcome::Retrying, Outcome::Retrying, Outcome::DeadLettered],
            "{}",
            fixture.label
        );
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            count(&fixture.database, "effects").await,
            0,
            "failed attempts left effects"
        );
        let letter = tokio::time::timeout(Duration::from_secs(30), dead_letters.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(letter.message.id, poison.id);
        assert_eq!(letter.message.payload, poison.payload);
        letter.ack().await.unwrap();
        fixture.finish().await;
    }
    let rendered = metrics.render();
    assert!(
        rendered
            .lines()
            .any(|line| line
                .starts_with("taskmesh_events_dead_lettered_total{consumer=\"fragile\"}")),
        "{rendered}"
    );
}

#[tokio::test]
async fn the_outbox_drains_after_an_in_process_bus_outage() {
    for fixture in fixtures("the_outbox_drains_after_an_in_process_bus_outage").await {
        let switch = Arc::new(Switchable {
            inner: fixture.bus.clone(),
            up: AtomicBool::new(false),
        });
        outage_scenario(&fixture, switch.clone(), || async {
            switch.up.store(true, Ordering::SeqCst)
        })
        .await;
        fixture.finish().await;
    }
}

/// Writes three events while the bus is down, checks nothing is lost while it is, brings
/// it back with `restore`, and checks everything arrives exactly once.
async fn outage_scenario<F: std::future::Future<Output = ()>>(
    fixture: &Fixture,
    bus: Arc<dyn Bus>,
    restore: impl FnOnce() -> F,
) {
    let messages: Vec<EventMessage> = (0..3).map(|i| event(fixture, &format!("o{i}"))).collect();
    for message in &messages {
        change_with_event(&fixture.database, message, true).await;
    }
    let relay = OutboxRelay::new(
        fixture.database.clone(),
        bus.clone(),
        Duration::from_secs(60),
    );
    let report = relay.drain().await.unwrap();
    assert!(
        report.blocked,
        "{}: publish succeeded while the bus was down",
        fixture.label
    );
    assert_eq!(report.published, 0);
    assert_eq!(relay.pending().await.unwrap(), 3);

    // `restore` returns once the bus is reachable again (for NATS: the client's reconnect
    // event), so one drain must publish everything, in order, with nothing left.
    tokio::time::timeout(Duration::from_secs(60), restore())
        .await
        .expect("the bus came back");
    let report = relay.drain().await.unwrap();
    assert!(
        !report.blocked,
        "{}: publish failed after the bus came back",
        fixture.label
    );
    assert_eq!(report.published, 3, "{}", fixture.label);
    assert_eq!(relay.pending().await.unwrap(), 0);

    let handler = Arc::new(RecordingHandler::default());
    let consumer = Consumer::new(
        fixture.consumer("after-outage"),
        bus.clone(),
        fixture.database.clone(),
        handler,
        3,
    );
    let mut subscription = bus
        .subscribe(&fixture.consumer("after-outage"))
        .await
        .unwrap();
    let mut applied = Vec::new();
    while applied.len() < 3 {
        let delivery = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .unwrap()
            .unwrap();
        applied.push(delivery.message.id);
        assert_eq!(consumer.process(delivery).await.unwrap(), Outcome::Applied);
    }
    assert_eq!(
        applied,
        messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        "{}",
        fixture.label
    );
    // Nothing doubled: a publish that timed out during the outage but reached the broker
    // is deduplicated by its id, so no fourth delivery arrives.
    let probe = event(fixture, "probe");
    bus.publish(&probe).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next.message.id, probe.id,
        "{}: an outage event was delivered twice",
        fixture.label
    );
    next.ack().await.unwrap();
    assert_eq!(count(&fixture.database, "effects").await, 3);
}

#[tokio::test]
async fn the_outbox_drains_after_nats_is_unreachable_at_publish_time() {
    let Some(url) =
        mesh::testing::nats_url("the_outbox_drains_after_nats_is_unreachable_at_publish_time")
    else {
        return;
    };
    for (label, database, schema, _dir) in databases("nats_outage").await {
        let proxy = Proxy::start(&url).await;
        let bus = events::jetstream::JetStreamBus::connect(
            &format!("nats://{}", proxy.address),
            Duration::from_secs(1),
        )
        .await
        .expect("connect through proxy");
        let fixture_bus: Arc<dyn Bus> = Arc::new(bus.clone());
        // Create the stream while NATS is reachable, then cut the connection.
        let namespace = mesh::testing::unique_name("tm");
        let warmup = EventBuilder::new(
            format!("{namespace}.svc.warmup.done"),
            "w",
            "google.protobuf.Empty",
            &(),
        )
        .build();
        fixture_bus.publish(&warmup).await.unwrap();
        proxy.cut();
        let fixture = Fixture::external(label, database, fixture_bus.clone(), namespace);
        let proxy_for_restore = proxy.clone();
        let bus_for_restore = bus.clone();
        outage_scenario(&fixture, fixture_bus, move || async move {
            proxy_for_restore.restore();
            bus_for_restore.wait_connected().await;
        })
        .await;
        bus.delete_streams().await.unwrap();
        if let Some(schema) = schema {
            schema.drop_schema().await;
        }
    }
}
