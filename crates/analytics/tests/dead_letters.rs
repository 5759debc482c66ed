//! A poison event (its payload does not decode as the declared type) is retried, then
//! published to the dead-letter subject, and counts nothing.

use std::sync::Arc;

use analytics::store::sql::SqlAnalyticsStore;
use analytics::store::sql_apply::Rollups;
use analytics::store::{AnalyticsStore, ProjectScope};
use events::bus::Delivery;
use events::consumer::Outcome;
use events::memory::InProcessBus;
use mesh::ids::OrganizationId;
use taskmesh::events::v1::Event;

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_counts_nothing() {
    let (database, _dir) =
        mesh::testing::sqlite(&[&analytics::migrations(), &events::migrations()]).await;
    let bus = InProcessBus::default();
    let consumer = events::Consumer::new(
        events::ConsumerConfig {
            name: "analytics-projects".into(),
            filter_subjects: vec!["taskmesh.projects.>".into()],
            ..Default::default()
        },
        Arc::new(bus.clone()),
        database.clone(),
        Arc::new(Rollups),
        3,
    );
    let organization = OrganizationId::new();
    let now = mesh::time::now_millis();
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: "taskmesh.projects.task.created".into(),
        tenant_id: organization.to_string(),
        occurred_at: Some(mesh::time::timestamp(now)),
        payload_type: "taskmesh.events.v1.TaskCreated".into(),
        payload: vec![0xff, 0xff, 0xff],
        ..Event::default()
    };
    let message = events::envelope::encode(&event).unwrap();
    let mut outcomes = Vec::new();
    for attempt in 1..=3 {
        outcomes.push(
            consumer
                .process(Delivery::detached(message.clone(), attempt))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        outcomes,
        [Outcome::Retrying, Outcome::Retrying, Outcome::DeadLettered]
    );
    let letters = bus.messages("taskmesh.deadletter.analytics-projects");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, message.id);
    let store = SqlAnalyticsStore(kit::Storage::detached(database));
    let flow = store
        .task_flow(
            organization,
            &ProjectScope::All,
            now - 86_400_000,
            now + 86_400_000,
        )
        .await
        .unwrap();
    assert!(flow.slots.is_empty(), "a poison event counted: {flow:?}");
}
