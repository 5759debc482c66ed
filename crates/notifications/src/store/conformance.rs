//! The behaviour every [`NotificationsStore`] must have, run on SQLite and PostgreSQL.

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;

use super::{INBOX_ORDER, NotificationsStore, Source};
use crate::domain::fanout::Draft;
use crate::domain::filter::InboxQuery;
use crate::domain::{Channels, Kind, NotificationsError};

fn draft(recipient: UserId, kind: Kind, title: &str) -> Draft {
    Draft {
        recipient_user_id: recipient.to_string(),
        kind: Some(kind),
        title: title.into(),
        body: String::new(),
        project_id: Some("p1".into()),
        task_id: Some("t1".into()),
        ..Draft::default()
    }
}

fn source(event: &str, at: i64) -> Source {
    Source {
        event_id: event.into(),
        actor_user_id: Some(UserId::new().to_string()),
        at,
    }
}

fn inbox() -> InboxQuery {
    InboxQuery {
        archived: Some(false),
        ..InboxQuery::default()
    }
}

/// Runs every check.
pub async fn run(store: &dyn NotificationsStore) {
    inbox_reads_marks_and_archives(store).await;
    preferences_and_streams(store).await;
    the_mail_queue(store).await;
    due_reminders(store).await;
}

async fn due_reminders(store: &dyn NotificationsStore) {
    use super::sql_deadlines::DeadlineChange;
    use taskmesh::events::v1::TaskCreated;

    let org = OrganizationId::new();
    let (ada, bob) = (UserId::new(), UserId::new());
    let hour = 3_600_000;
    let now = 1_000 * hour;
    let task = |id: &str, due: i64, category: &str| DeadlineChange::Upsert {
        organization_id: org.to_string(),
        task: Box::new(TaskCreated {
            task_id: id.into(),
            project_id: "p".into(),
            key: format!("WEB-{id}"),
            title: "Ship".into(),
            status_category: category.into(),
            assignee_user_ids: vec![ada.to_string(), bob.to_string()],
            due_time: Some(mesh::time::timestamp(due)),
            ..TaskCreated::default()
        }),
    };
    let id = |name: &str| format!("{}-{name}", uuid::Uuid::now_v7());
    let (soon, late, done, far) = (id("soon"), id("late"), id("done"), id("far"));
    store
        .track_deadline(task(&soon, now + hour, "todo"), now)
        .await
        .unwrap();
    store
        .track_deadline(task(&late, now - hour, "in_progress"), now)
        .await
        .unwrap();
    store
        .track_deadline(task(&done, now + hour, "done"), now)
        .await
        .unwrap();
    store
        .track_deadline(task(&far, now + 48 * hour, "todo"), now)
        .await
        .unwrap();
    // Two replicas scanning at once still remind each assignee once per task and kind.
    let (first, second) = tokio::join!(
        store.remind_due(now, 24 * hour, "http://app"),
        store.remind_due(now, 24 * hour, "http://app"),
    );
    assert_eq!(
        first.unwrap() + second.unwrap(),
        4,
        "soon and late, two assignees each"
    );
    assert_eq!(
        store
            .remind_due(now, 24 * hour, "http://app")
            .await
            .unwrap(),
        0
    );
    let kinds = |user: UserId| async move {
        let page = store
            .list(org, user, &inbox(), &PageRequest::first(10, INBOX_ORDER))
            .await
            .unwrap();
        let mut kinds: Vec<(String, String)> = page
            .items
            .into_iter()
            .map(|n| (n.task_id.unwrap_or_default(), n.kind))
            .collect();
        kinds.sort();
        kinds
    };
    let mut expected = vec![
        (soon.clone(), "task_due_soon".to_string()),
        (late.clone(), "task_overdue".to_string()),
    ];
    expected.sort();
    assert_eq!(kinds(bob).await, expected);
    // The soon task passes its due time: overdue, once; a new due time re-arms reminders;
    // closing or deleting a task ends them.
    assert_eq!(
        store
            .remind_due(now + 2 * hour, 24 * hour, "http://app")
            .await
            .unwrap(),
        2
    );
    store
        .track_deadline(
            DeadlineChange::Fields {
                task_id: soon.clone(),
                title: Some("Ship it".into()),
                due_at: Some(Some(now + 3 * hour)),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .remind_due(now + 2 * hour, 24 * hour, "http://app")
            .await
            .unwrap(),
        2
    );
    store
        .track_deadline(
            DeadlineChange::Open {
                task_id: soon.clone(),
                open: false,
            },
            now,
        )
        .await
        .unwrap();
    store
        .track_deadline(
            DeadlineChange::Delete {
                task_id: far.clone(),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .remind_due(now + 100 * hour, 24 * hour, "http://app")
            .await
            .unwrap(),
        0
    );
    let titles: Vec<String> = store
        .list(org, ada, &inbox(), &PageRequest::first(10, INBOX_ORDER))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.title)
        .collect();
    assert!(
        titles
            .iter()
            .any(|title| title.contains("\"Ship it\" is due soon")),
        "{titles:?}"
    );
}

async fn the_mail_queue(store: &dyn NotificationsStore) {
    let mail = crate::domain::mail::Mail {
        to: "bob@example.com".into(),
        subject: "Hello".into(),
        body: "Body".into(),
    };
    let event = uuid::Uuid::now_v7().to_string();
    assert!(store.queue_mail(&event, &mail, 1_000).await.unwrap());
    assert!(
        !store.queue_mail(&event, &mail, 1_001).await.unwrap(),
        "once per event"
    );
    let due = store.due_mail(1_000, 10).await.unwrap();
    let queued = due
        .iter()
        .find(|queued| queued.recipient == "bob@example.com")
        .unwrap();
    assert_eq!((queued.subject.as_str(), queued.attempts), ("Hello", 0));
    assert!(
        store
            .due_mail(999, 10)
            .await
            .unwrap()
            .iter()
            .all(|q| q.id != queued.id)
    );
    // One sender at a time: a claimed mail is neither due nor claimable until it is let go.
    assert!(store.claim_mail(&queued.id, 1_000, 5_000).await.unwrap());
    assert!(!store.claim_mail(&queued.id, 1_001, 5_000).await.unwrap());
    assert!(
        store
            .due_mail(1_001, 10)
            .await
            .unwrap()
            .iter()
            .all(|q| q.id != queued.id)
    );
    // A failed attempt is retried at its time, counting attempts.
    store
        .finish_mail(&queued.id, Some(9_000), "timed out")
        .await
        .unwrap();
    assert!(
        store
            .due_mail(8_999, 10)
            .await
            .unwrap()
            .iter()
            .all(|q| q.id != queued.id)
    );
    let again = store.due_mail(9_000, 10).await.unwrap();
    let again = again.iter().find(|q| q.id == queued.id).unwrap();
    assert_eq!(again.attempts, 1);
    // Sent (or given up): gone.
    assert!(store.claim_mail(&queued.id, 9_000, 20_000).await.unwrap());
    store.finish_mail(&queued.id, None, "").await.unwrap();
    assert!(
        store
            .due_mail(i64::MAX / 2, 100)
            .await
            .unwrap()
            .iter()
            .all(|q| q.id != queued.id)
    );
}

async fn inbox_reads_marks_and_archives(store: &dyn NotificationsStore) {
    let org = OrganizationId::new();
    let ada = UserId::new();
    let bob = UserId::new();
    // Three events for Ada, one for Bob; an email-only kind never reaches the inbox.
    for (index, kind) in [Kind::TaskAssigned, Kind::TaskMentioned, Kind::TaskCommented]
        .into_iter()
        .enumerate()
    {
        let created = store
            .deliver(
                org,
                &source(&format!("e{index}"), 1_000 + index as i64),
                &[
                    draft(ada, kind, &format!("n{index}")),
                    draft(ada, Kind::PasswordReset, "mail only"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(created.len(), 1);
    }
    store
        .deliver(
            org,
            &source("e9", 1_500),
            &[draft(bob, Kind::TaskAssigned, "bob's")],
        )
        .await
        .unwrap();
    // The same event again creates nothing.
    let again = store
        .deliver(
            org,
            &source("e0", 9_000),
            &[draft(ada, Kind::TaskAssigned, "n0")],
        )
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "an event notifies a recipient once per kind"
    );

    let page = store
        .list(org, ada, &inbox(), &PageRequest::first(2, INBOX_ORDER))
        .await
        .unwrap();
    let titles: Vec<&str> = page.items.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, vec!["n2", "n1"], "newest first");
    let next = PageRequest::first(2, INBOX_ORDER)
        .next(&page.next_page_token)
        .unwrap();
    let rest = store.list(org, ada, &inbox(), &next).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].title, "n0");
    assert!(rest.next_page_token.is_empty());
    assert_eq!(store.unread_count(org, ada).await.unwrap(), 3);
    assert_eq!(store.unread_count(org, bob).await.unwrap(), 1);

    // Another user, or another organization, sees none of Ada's.
    let first = page.items[0].clone();
    assert!(store.get(org, bob, &first.id).await.unwrap().is_none());
    assert!(
        store
            .get(OrganizationId::new(), ada, &first.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .mark_read(org, bob, Some(std::slice::from_ref(&first.id)), 2_000)
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .archive(org, bob, &first.id, 2_000)
            .await
            .unwrap()
            .is_none()
    );

    // Filters.
    let mentioned = InboxQuery {
        kinds: vec![Kind::TaskMentioned],
        ..inbox()
    };
    let found = store
        .list(org, ada, &mentioned, &PageRequest::first(10, INBOX_ORDER))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].kind, "task_mentioned");
    assert_eq!(found.items[0].task_id.as_deref(), Some("t1"));

    // Marking read: by id (idempotent), then all created up to now.
    assert_eq!(
        store
            .mark_read(org, ada, Some(std::slice::from_ref(&first.id)), 2_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .mark_read(org, ada, Some(std::slice::from_ref(&first.id)), 2_500)
            .await
            .unwrap(),
        0
    );
    let read = store.get(org, ada, &first.id).await.unwrap().unwrap();
    assert_eq!(read.read_at, Some(2_000), "the first read time is kept");
    let unread = InboxQuery {
        read: Some(false),
        ..inbox()
    };
    let unread_page = store
        .list(org, ada, &unread, &PageRequest::first(10, INBOX_ORDER))
        .await
        .unwrap();
    assert_eq!(unread_page.items.len(), 2);
    assert_eq!(store.mark_read(org, ada, None, 3_000).await.unwrap(), 2);
    assert_eq!(store.unread_count(org, ada).await.unwrap(), 0);
    assert_eq!(store.unread_count(org, bob).await.unwrap(), 1);

    // Archiving hides from the default inbox, marks read, and is idempotent.
    let archived = store
        .archive(org, bob, &bob_notification(store, org, bob).await, 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (archived.archived_at, archived.read_at),
        (Some(4_000), Some(4_000))
    );
    let again = store
        .archive(org, bob, &archived.id, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.archived_at, Some(4_000));
    assert!(
        store
            .list(org, bob, &inbox(), &PageRequest::first(10, INBOX_ORDER))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let with_archived = InboxQuery {
        archived: Some(true),
        ..InboxQuery::default()
    };
    assert_eq!(
        store
            .list(
                org,
                bob,
                &with_archived,
                &PageRequest::first(10, INBOX_ORDER)
            )
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(store.unread_count(org, bob).await.unwrap(), 0);
}

async fn bob_notification(
    store: &dyn NotificationsStore,
    org: OrganizationId,
    bob: UserId,
) -> String {
    store
        .list(org, bob, &inbox(), &PageRequest::first(1, INBOX_ORDER))
        .await
        .unwrap()
        .items[0]
        .id
        .clone()
}

async fn preferences_and_streams(store: &dyn NotificationsStore) {
    let org = OrganizationId::new();
    let ada = UserId::new();
    let defaults = store.preferences(org, ada).await.unwrap();
    assert_eq!((defaults.version, defaults.updated_at), (0, None));
    assert_eq!(
        defaults.channels(Kind::TaskAssigned),
        Kind::TaskAssigned.default_channels()
    );
    let quiet = Channels {
        in_app: false,
        email: false,
    };
    let saved = store
        .replace_preferences(org, ada, &[(Kind::TaskCommented, quiet)], Some(0), 10)
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    let read = store.preferences(org, ada).await.unwrap();
    assert_eq!(read.channels(Kind::TaskCommented), quiet);
    assert_eq!((read.version, read.updated_at), (1, Some(10)));
    // A stale version changes nothing.
    let stale = store
        .replace_preferences(org, ada, &[], Some(0), 20)
        .await
        .unwrap_err();
    assert!(
        matches!(stale, NotificationsError::EtagMismatch),
        "{stale:?}"
    );
    assert_eq!(store.preferences(org, ada).await.unwrap().version, 1);
    // Another organization keeps its own.
    assert_eq!(
        store
            .preferences(OrganizationId::new(), ada)
            .await
            .unwrap()
            .version,
        0
    );

    // A kind switched off in-app is not delivered to the inbox.
    let created = store
        .deliver(
            org,
            &source("p1", 100),
            &[
                draft(ada, Kind::TaskCommented, "muted"),
                draft(ada, Kind::TaskAssigned, "kept"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].title, "kept");

    // Streams read what follows a position, oldest first.
    assert_eq!(
        store.newest(org, UserId::new()).await.unwrap(),
        (0, String::new())
    );
    let start = store.newest(org, ada).await.unwrap();
    assert_eq!(start, (100, created[0].id.clone()));
    for (index, at) in [200, 200, 300].into_iter().enumerate() {
        store
            .deliver(
                org,
                &source(&format!("s{index}"), at),
                &[draft(ada, Kind::TaskAssigned, &format!("s{index}"))],
            )
            .await
            .unwrap();
    }
    let after: Vec<String> = store
        .since(org, ada, &start, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.title)
        .collect();
    assert_eq!(after.len(), 3);
    assert_eq!(after[2], "s2");
    let two = store.since(org, ada, &start, 2).await.unwrap();
    let last = two.last().unwrap();
    let rest = store
        .since(org, ada, &(last.created_at, last.id.clone()), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "equal times are ordered by id, none skipped");
    assert_eq!(rest[0].title, "s2");
}
