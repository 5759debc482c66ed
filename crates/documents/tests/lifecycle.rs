//! Documents follow their task: projects' task.deleted hides them, a restore (task.created
//! with `restored`) shows them again, and once the undo window has ended the purge deletes
//! them, queues their contents and the collector deletes the blobs. Events are fed through
//! the real consumer (inbox dedup included); the purge and collection are called directly
//! with explicit times, so nothing waits on a clock.

use std::sync::{Arc, Mutex};

use documents::store::sql::SqlDocumentsStore;
use documents::store::sql_lifecycle::{PROJECTS_EVENTS, TaskLifecycle};
use documents::store::{ContentRemover, DocumentRecord, DocumentsStore, VersionRecord};
use events::bus::Delivery;
use events::consumer::Outcome;
use events::memory::InProcessBus;
use mesh::ids::{OrganizationId, UserId};
use prost::{Message, Name};
use taskmesh::events::v1::{Event, ProjectDeleted, TaskCreated, TaskDeleted};

#[derive(Default)]
struct Removed(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl ContentRemover for Removed {
    async fn remove(&self, _organization: &str, sha256: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(sha256.to_string());
        Ok(())
    }
}

fn event<P: Message + Name>(organization: OrganizationId, subject: &str, payload: &P) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: subject.into(),
        tenant_id: organization.to_string(),
        occurred_at: Some(mesh::time::timestamp(mesh::time::now_millis())),
        payload_type: P::full_name(),
        payload: payload.encode_to_vec(),
        ..Event::default()
    }
}

fn document(
    organization: OrganizationId,
    project: &str,
    task: Option<&str>,
    sha: char,
) -> (DocumentRecord, VersionRecord) {
    let user = UserId::new();
    let record = DocumentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: organization,
        project_id: project.into(),
        task_id: task.map(str::to_string),
        title: "Doc".into(),
        visibility: "project".into(),
        created_by_user_id: user,
        current_version: 1,
        hidden: false,
        create_request_id: None,
        version: 1,
        created_at: 1,
        updated_at: 1,
    };
    let version = VersionRecord {
        organization_id: organization,
        document_id: record.id.clone(),
        version: 1,
        sha256: sha.to_string().repeat(64),
        size_bytes: 5,
        content_type: "text/plain".into(),
        declared_content_type: String::new(),
        file_name: "doc.txt".into(),
        created_by_user_id: user,
        restored_from_version: 0,
        request_id: None,
        created_at: 1,
    };
    (record, version)
}

#[tokio::test]
async fn task_deletes_hide_restores_show_and_purges_delete() {
    let (database, _dir) =
        mesh::testing::sqlite(&[&documents::migrations(), &events::migrations()]).await;
    let bus = InProcessBus::default();
    let consumer = events::Consumer::new(
        events::ConsumerConfig {
            name: "documents-projects".into(),
            filter_subjects: vec![PROJECTS_EVENTS.into()],
            ..Default::default()
        },
        Arc::new(bus.clone()),
        database.clone(),
        Arc::new(TaskLifecycle),
        3,
    );
    let apply = |event: Event| {
        let consumer = consumer.clone();
        async move {
            let message = events::envelope::encode(&event).unwrap();
            consumer
                .process(Delivery::detached(message, 1))
                .await
                .unwrap()
        }
    };
    let store = SqlDocumentsStore(kit::Storage::detached(database));
    let organization = OrganizationId::new();
    let (spec, spec_v1) = document(organization, "p1", Some("t1"), 'a');
    let (plan, plan_v1) = document(organization, "p2", None, 'b');
    store.create(&spec, &spec_v1, 1_000).await.unwrap();
    store.create(&plan, &plan_v1, 1_000).await.unwrap();

    // Deleted with an undo window still open: hidden, not purged.
    let later = mesh::time::now_millis() + 3_600_000;
    let deleted = TaskDeleted {
        task_id: "t1".into(),
        project_id: "p1".into(),
        restore_expire_time: Some(mesh::time::timestamp(later)),
        ..TaskDeleted::default()
    };
    let first = event(organization, "taskmesh.projects.task.deleted", &deleted);
    assert_eq!(apply(first.clone()).await, Outcome::Applied);
    assert_eq!(apply(first).await, Outcome::Duplicate);
    assert_eq!(store.get(organization, &spec.id).await.unwrap(), None);
    assert_eq!(store.run_purges(later - 1, 10).await.unwrap(), 0);

    // Restored: shown again, the purge cancelled.
    let restored = TaskCreated {
        task_id: "t1".into(),
        project_id: "p1".into(),
        restored: true,
        ..TaskCreated::default()
    };
    assert_eq!(
        apply(event(
            organization,
            "taskmesh.projects.task.created",
            &restored
        ))
        .await,
        Outcome::Applied
    );
    assert!(store.get(organization, &spec.id).await.unwrap().is_some());
    assert_eq!(store.run_purges(later + 1, 10).await.unwrap(), 0);

    // Deleted again; once the window has ended the purge deletes it and queues its content.
    assert_eq!(
        apply(event(
            organization,
            "taskmesh.projects.task.deleted",
            &deleted
        ))
        .await,
        Outcome::Applied
    );
    assert_eq!(store.run_purges(later, 10).await.unwrap(), 1);
    assert_eq!(store.run_purges(later, 10).await.unwrap(), 0);
    assert!(
        store
            .version(organization, &spec.id, 1)
            .await
            .unwrap()
            .is_none()
    );
    let removed = Removed::default();
    let after_grace = mesh::time::now_millis() + 1;
    assert_eq!(
        store
            .collect_garbage(after_grace, 10, &removed)
            .await
            .unwrap(),
        1
    );
    assert_eq!(*removed.0.lock().unwrap(), vec!["a".repeat(64)]);

    // A deleted project's documents go at once.
    let gone = ProjectDeleted {
        project_id: "p2".into(),
        ..ProjectDeleted::default()
    };
    assert_eq!(
        apply(event(
            organization,
            "taskmesh.projects.project.deleted",
            &gone
        ))
        .await,
        Outcome::Applied
    );
    assert_eq!(store.get(organization, &plan.id).await.unwrap(), None);
    assert_eq!(
        store
            .run_purges(mesh::time::now_millis(), 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.usage(organization).await.unwrap(), 0);
}
