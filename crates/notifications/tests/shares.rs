//! Attachments and share links reach the inbox: a document attached to a task tells its
//! watchers but not the one who attached it; an opened share link tells its creator once per
//! hour, and never for bots. Events are fed to the real consumer step by step.

use std::sync::Arc;

use events::bus::{Delivery, EventMessage};
use events::consumer::{Consumer, Outcome};
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;
use notifications::domain::filter::InboxQuery;
use notifications::store::sql::SqlNotificationsStore;
use notifications::store::sql_inbox::InboxHandler;
use notifications::store::sql_webhook_fanout::InboxAndWebhooks;
use notifications::store::{INBOX_ORDER, NotificationRecord, NotificationsStore};
use prost::{Message, Name};
use taskmesh::events::v1::*;

fn message<P: Message + Name>(
    organization: OrganizationId,
    subject: &str,
    actor: UserId,
    payload: &P,
) -> EventMessage {
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: subject.into(),
        tenant_id: organization.to_string(),
        actor: Some(Actor {
            user_id: actor.to_string(),
            kind: ActorKind::User.into(),
            service: String::new(),
        }),
        occurred_at: Some(mesh::time::timestamp(mesh::time::now_millis())),
        payload_type: P::full_name(),
        payload: payload.encode_to_vec(),
        ..Event::default()
    };
    events::envelope::encode(&event).unwrap()
}

async fn inbox(
    store: &SqlNotificationsStore,
    organization: OrganizationId,
    user: UserId,
) -> Vec<NotificationRecord> {
    let page = PageRequest::new("t", 50, "", String::new(), INBOX_ORDER).unwrap();
    store
        .list(organization, user, &InboxQuery::default(), &page)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn attachments_tell_watchers_and_opened_links_tell_their_creator_once_an_hour() {
    let (database, _dir) =
        mesh::testing::sqlite(&[&notifications::migrations(), &events::migrations()]).await;
    let consumer = Consumer::new(
        events::ConsumerConfig {
            name: "notifications-test".into(),
            filter_subjects: vec!["taskmesh.>".into()],
            ..Default::default()
        },
        Arc::new(events::memory::InProcessBus::default()),
        database.clone(),
        Arc::new(InboxAndWebhooks(InboxHandler {
            app_url: "http://localhost".into(),
        })),
        1,
    );
    let apply = |message: EventMessage| async {
        assert_eq!(
            consumer
                .process(Delivery::detached(message, 1))
                .await
                .unwrap(),
            Outcome::Applied
        );
    };
    let store = SqlNotificationsStore(kit::Storage::detached(database));
    let organization = OrganizationId::new();
    let (reporter, assignee, owner, visitor) =
        (UserId::new(), UserId::new(), UserId::new(), UserId::new());

    let task = TaskCreated {
        task_id: "t1".into(),
        project_id: "p1".into(),
        key: "WEB-1".into(),
        title: "Ship".into(),
        reporter_user_id: reporter.to_string(),
        assignee_user_ids: vec![assignee.to_string()],
        ..TaskCreated::default()
    };
    apply(message(
        organization,
        "taskmesh.projects.task.created",
        reporter,
        &task,
    ))
    .await;
    let attached = DocumentCreated {
        document_id: "d1".into(),
        title: "Spec".into(),
        task_id: "t1".into(),
        project_id: "p1".into(),
        ..DocumentCreated::default()
    };
    apply(message(
        organization,
        "taskmesh.documents.document.created",
        assignee,
        &attached,
    ))
    .await;
    let told = inbox(&store, organization, reporter).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].kind, "document_added");
    assert_eq!(told[0].document_id.as_deref(), Some("d1"));
    assert_eq!(told[0].task_id.as_deref(), Some("t1"));
    assert_eq!(told[0].title, "\"Spec\" was attached to \"Ship\"");
    let assignee_inbox = inbox(&store, organization, assignee).await;
    assert!(
        assignee_inbox.iter().all(|n| n.kind != "document_added"),
        "the actor was told"
    );

    let link = LinkCreated {
        link_id: "l1".into(),
        slug: "abcdefghijk".into(),
        ..LinkCreated::default()
    };
    apply(message(
        organization,
        "taskmesh.links.link.created",
        owner,
        &link,
    ))
    .await;
    let visit = |bot: bool| LinkVisited {
        link_id: "l1".into(),
        slug: "abcdefghijk".into(),
        visit_count: 1,
        bot,
        ..LinkVisited::default()
    };
    apply(message(
        organization,
        "taskmesh.links.link.visited",
        visitor,
        &visit(true),
    ))
    .await;
    assert!(
        inbox(&store, organization, owner).await.is_empty(),
        "a bot visit told the creator"
    );
    apply(message(
        organization,
        "taskmesh.links.link.visited",
        visitor,
        &visit(false),
    ))
    .await;
    apply(message(
        organization,
        "taskmesh.links.link.visited",
        visitor,
        &visit(false),
    ))
    .await;
    let told = inbox(&store, organization, owner).await;
    assert_eq!(told.len(), 1, "once per hour: {told:?}");
    assert_eq!(
        (told[0].kind.as_str(), told[0].link_id.as_deref()),
        ("link_visited", Some("l1"))
    );
    assert_eq!(told[0].title, "Your share link /l/abcdefghijk was opened");
    // Another organization's inbox of the same users holds none of it.
    assert!(inbox(&store, OrganizationId::new(), owner).await.is_empty());
}
