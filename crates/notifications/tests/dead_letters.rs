//! A poison event (its payload does not decode as the declared type) is retried, then
//! published to the dead-letter subject; the consumer goes on with the next event.

use std::sync::Arc;

use events::bus::Delivery;
use events::consumer::Outcome;
use events::memory::InProcessBus;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;
use notifications::domain::filter::InboxQuery;
use notifications::store::sql::SqlNotificationsStore;
use notifications::store::sql_inbox::InboxHandler;
use notifications::store::sql_webhook_fanout::InboxAndWebhooks;
use notifications::store::{INBOX_ORDER, NotificationsStore};
use prost::Message;
use taskmesh::events::v1::Event;

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_next_one_is_applied() {
    let (database, _dir) =
        mesh::testing::sqlite(&[&notifications::migrations(), &events::migrations()]).await;
    let bus = InProcessBus::default();
    let consumer = events::Consumer::new(
        events::ConsumerConfig {
            name: "notifications-projects".into(),
            filter_subjects: vec!["taskmesh.projects.>".into()],
            ..Default::default()
        },
        Arc::new(bus.clone()),
        database.clone(),
        Arc::new(InboxAndWebhooks(InboxHandler {
            app_url: "http://localhost".into(),
        })),
        3,
    );
    let organization = OrganizationId::new();
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: "taskmesh.projects.task.assigned".into(),
        tenant_id: organization.to_string(),
        occurred_at: Some(mesh::time::timestamp(mesh::time::now_millis())),
        payload_type: "taskmesh.events.v1.TaskAssigned".into(),
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
    let letters = bus.messages("taskmesh.deadletter.notifications-projects");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, message.id);
    // The next event of the stream is applied as usual.
    let bob = UserId::new();
    let assigned = taskmesh::events::v1::TaskAssigned {
        task_id: "t1".into(),
        project_id: "p1".into(),
        key: "WEB-1".into(),
        title: "Fix".into(),
        added_assignee_user_ids: vec![bob.to_string()],
        ..Default::default()
    };
    let good = Event {
        id: uuid::Uuid::now_v7().to_string(),
        payload: assigned.encode_to_vec(),
        ..event
    };
    let good = events::envelope::encode(&good).unwrap();
    assert_eq!(
        consumer.process(Delivery::detached(good, 1)).await.unwrap(),
        Outcome::Applied
    );
    let store = SqlNotificationsStore(kit::Storage::detached(database));
    let page = PageRequest::new("t", 10, "", String::new(), INBOX_ORDER).unwrap();
    let inbox = store
        .list(organization, bob, &InboxQuery::default(), &page)
        .await
        .unwrap();
    assert_eq!(inbox.items.len(), 1, "{:?}", inbox.items);
    assert_eq!(inbox.items[0].title, "You were assigned WEB-1 \"Fix\"");
}
