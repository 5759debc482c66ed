//! The behaviour every [`DocumentsStore`] must have, run on SQLite and PostgreSQL.

use mesh::ids::{OrganizationId, UserId};

use std::sync::Mutex;

use mesh::paging::PageRequest;

use super::{
    ContentRemover, DocumentOrder, DocumentRecord, DocumentsStore, MetadataChange, Readable,
    StoreError, VERSIONS_ORDER, VersionRecord,
};
use crate::domain::filter::DocumentQuery;

/// Records what the collector removes.
#[derive(Default)]
struct Removed(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl ContentRemover for Removed {
    async fn remove(&self, _organization: &str, sha256: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(sha256.to_string());
        Ok(())
    }
}

fn document(org: OrganizationId, user: UserId, task: Option<&str>) -> DocumentRecord {
    DocumentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: "p1".into(),
        task_id: task.map(str::to_string),
        title: "Spec".into(),
        visibility: "project".into(),
        created_by_user_id: user,
        current_version: 1,
        hidden: false,
        create_request_id: None,
        version: 1,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn version(document: &DocumentRecord, sha: &str, size: i64, at: i64) -> VersionRecord {
    VersionRecord {
        organization_id: document.organization_id,
        document_id: document.id.clone(),
        version: 1,
        sha256: sha.repeat(64 / sha.len()),
        size_bytes: size,
        content_type: "application/pdf".into(),
        declared_content_type: String::new(),
        file_name: "spec.pdf".into(),
        created_by_user_id: document.created_by_user_id,
        restored_from_version: 0,
        request_id: None,
        created_at: at,
    }
}

/// Runs every check.
pub async fn run(store: &dyn DocumentsStore) {
    let (org, other) = (OrganizationId::new(), OrganizationId::new());
    let ada = UserId::new();
    let spec = document(org, ada, Some("t1"));
    store
        .create(&spec, &version(&spec, "a", 600, 1_000), 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get(org, &spec.id)
            .await
            .unwrap()
            .map(|row| row.document),
        Some(spec.clone())
    );
    assert_eq!(
        store.get(other, &spec.id).await.unwrap(),
        None,
        "another organization"
    );

    // Versions are numbered by the store; the etag guards concurrent uploads.
    let (after, second) = store
        .add_version(
            org,
            &spec.id,
            Some(1),
            &version(&spec, "b", 300, 2_000),
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(
        (after.current_version, after.version, second.version),
        (2, 2, 2)
    );
    assert!(matches!(
        store
            .add_version(
                org,
                &spec.id,
                Some(1),
                &version(&spec, "c", 1, 3_000),
                1_000
            )
            .await,
        Err(StoreError::EtagMismatch)
    ));
    // The quota counts each content once: the same bytes again cost nothing, new ones pass it.
    assert_eq!(store.usage(org).await.unwrap(), 900);
    store
        .add_version(org, &spec.id, None, &version(&spec, "a", 600, 3_000), 1_000)
        .await
        .unwrap();
    assert_eq!(store.usage(org).await.unwrap(), 900);
    assert!(matches!(
        store
            .add_version(org, &spec.id, None, &version(&spec, "d", 101, 4_000), 1_000)
            .await,
        Err(StoreError::QuotaExceeded { quota: 1_000 })
    ));
    let numbers: Vec<i64> = store
        .versions(org, &spec.id, &PageRequest::first(10, VERSIONS_ORDER))
        .await
        .unwrap()
        .items
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, vec![3, 2, 1]);
    assert_eq!(
        store
            .version(org, &spec.id, 0)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert_eq!(
        store
            .version(org, &spec.id, 2)
            .await
            .unwrap()
            .unwrap()
            .size_bytes,
        300
    );
    assert!(store.version(org, &spec.id, 9).await.unwrap().is_none());
    assert!(
        store
            .versions(other, &spec.id, &PageRequest::first(10, VERSIONS_ORDER))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // A deleted task hides its documents; undoing shows them; purging deletes them.
    let notes = document(org, ada, None);
    store
        .create(&notes, &version(&notes, "e", 10, 5_000), 10_000)
        .await
        .unwrap();
    assert_eq!(store.set_task_hidden(org, "t1", true).await.unwrap(), 1);
    assert_eq!(store.get(org, &spec.id).await.unwrap(), None);
    assert!(store.version(org, &spec.id, 0).await.unwrap().is_none());
    assert!(matches!(
        store
            .add_version(org, &spec.id, None, &version(&spec, "f", 1, 6_000), 10_000)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.set_task_hidden(org, "t1", false).await.unwrap(), 1);
    assert!(store.get(org, &spec.id).await.unwrap().is_some());
    let mut unused = store.purge_task(org, "t1").await.unwrap();
    unused.sort();
    assert_eq!(unused, vec!["a".repeat(64), "b".repeat(64)]);
    assert_eq!(store.get(org, &spec.id).await.unwrap(), None);
    assert_eq!(store.usage(org).await.unwrap(), 10);

    // Deleting: etag checked; a content another document still uses is not reported unused.
    let copy = document(org, ada, None);
    store
        .create(&copy, &version(&copy, "e", 10, 7_000), 10_000)
        .await
        .unwrap();
    assert!(matches!(
        store.delete(org, &notes.id, Some(7), ada).await,
        Err(StoreError::EtagMismatch)
    ));
    assert_eq!(
        store.delete(org, &notes.id, Some(1), ada).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.delete(org, &copy.id, None, ada).await.unwrap(),
        vec!["e".repeat(64)]
    );
    assert!(matches!(
        store.delete(org, &copy.id, None, ada).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete(other, &spec.id, None, ada).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.usage(org).await.unwrap(), 0);

    // Unused contents were queued; the collector removes those queued before the cutoff
    // that no version uses. An upload claims its content by queueing it afresh (so one that
    // never commits is collected too), which keeps a collection from taking it meanwhile.
    let removed = Removed::default();
    assert_eq!(
        store.collect_garbage(0, 10, &removed).await.unwrap(),
        0,
        "before the cutoff"
    );
    let now = mesh::time::now_millis();
    store.claim_content(org, &"b".repeat(64)).await.unwrap();
    let claimed = store.collect_garbage(now - 1, 10, &removed).await.unwrap();
    assert!(
        !removed.0.lock().unwrap().contains(&"b".repeat(64)),
        "a fresh claim is not collected"
    );
    let far = mesh::time::now_millis() + 60_000;
    let collected = claimed + store.collect_garbage(far, 10, &removed).await.unwrap();
    let mut gone = removed.0.lock().unwrap().clone();
    gone.sort();
    assert_eq!(gone, vec!["a".repeat(64), "b".repeat(64), "e".repeat(64)]);
    assert_eq!(collected, 3);
    assert_eq!(store.collect_garbage(far, 10, &removed).await.unwrap(), 0);

    lists_and_updates(store).await;
    races(store).await;
}

/// Concurrent writers: two uploads on one document state, two uploads that each fit the
/// quota but not together. Exactly one of each pair wins; the other gets the domain error.
async fn races(store: &dyn DocumentsStore) {
    let org = OrganizationId::new();
    let ada = UserId::new();
    let doc = document(org, ada, None);
    store
        .create(&doc, &version(&doc, "1", 10, 1_000), 1_000)
        .await
        .unwrap();
    let (two, three) = (version(&doc, "2", 10, 2_000), version(&doc, "3", 10, 2_000));
    let (left, right) = tokio::join!(
        store.add_version(org, &doc.id, Some(1), &two, 1_000),
        store.add_version(org, &doc.id, Some(1), &three, 1_000),
    );
    let outcomes = [left.is_ok(), right.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    for result in [left, right] {
        if let Err(error) = result {
            assert!(matches!(error, StoreError::EtagMismatch), "{error:?}");
        }
    }
    let (first, second) = (document(org, ada, None), document(org, ada, None));
    let (four, five) = (
        version(&first, "4", 600, 3_000),
        version(&second, "5", 600, 3_000),
    );
    let (left, right) = tokio::join!(
        store.create(&first, &four, 1_000),
        store.create(&second, &five, 1_000),
    );
    assert_eq!(
        [left.is_ok(), right.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1
    );
    assert!(
        store.usage(org).await.unwrap() <= 1_000,
        "the quota holds under concurrency"
    );
}

async fn lists_and_updates(store: &dyn DocumentsStore) {
    let org = OrganizationId::new();
    let (ada, bob) = (UserId::new(), UserId::new());
    let mut made = Vec::new();
    for (index, (title, visibility, project, owner)) in [
        ("Alpha plan", "project", "p1", ada),
        ("Beta notes", "organization", "p2", ada),
        ("Gamma secret", "private", "p1", ada),
        ("Delta 100%_done", "project", "p2", bob),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 10_000 + index as i64;
        let record = DocumentRecord {
            title: title.into(),
            visibility: visibility.into(),
            project_id: project.into(),
            created_at: at,
            updated_at: at,
            ..document(org, owner, None)
        };
        store
            .create(
                &record,
                &version(&record, &format!("{index}"), 10 * (index as i64 + 1), at),
                1_000_000,
            )
            .await
            .unwrap();
        made.push(record);
    }
    let titles = |readable: Readable,
                  query: DocumentQuery,
                  order: DocumentOrder,
                  descending: bool| async move {
        let page = PageRequest::first(10, order.keyset(descending));
        store
            .list(org, &readable, &query, &page)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|row| row.document.title)
            .collect::<Vec<_>>()
    };
    let admin = Readable {
        user_id: bob,
        every_shared: true,
        organization_wide: true,
        projects: vec![],
    };
    assert_eq!(
        titles(
            admin.clone(),
            DocumentQuery::default(),
            DocumentOrder::Updated,
            true
        )
        .await,
        ["Delta 100%_done", "Beta notes", "Alpha plan"],
        "owners and admins see all but others' private documents"
    );
    let member = Readable {
        user_id: bob,
        every_shared: false,
        organization_wide: true,
        projects: vec!["p2".into()],
    };
    assert_eq!(
        titles(
            member.clone(),
            DocumentQuery::default(),
            DocumentOrder::Title,
            false
        )
        .await,
        ["Beta notes", "Delta 100%_done"]
    );
    let guest = Readable {
        user_id: UserId::new(),
        every_shared: false,
        organization_wide: false,
        projects: vec!["p1".into()],
    };
    assert_eq!(
        titles(
            guest,
            DocumentQuery::default(),
            DocumentOrder::Created,
            false
        )
        .await,
        ["Alpha plan"]
    );
    let creator = Readable {
        user_id: ada,
        every_shared: false,
        organization_wide: false,
        projects: vec![],
    };
    assert_eq!(
        titles(creator, DocumentQuery::default(), DocumentOrder::Size, true).await,
        ["Gamma secret", "Beta notes"],
        "a creator outside the project does not see its PROJECT documents"
    );
    let literal = DocumentQuery {
        title: Some("100%_".into()),
        ..DocumentQuery::default()
    };
    assert_eq!(
        titles(admin.clone(), literal, DocumentOrder::Updated, true).await,
        ["Delta 100%_done"]
    );
    let wildcard = DocumentQuery {
        title: Some("a%s".into()),
        ..DocumentQuery::default()
    };
    assert!(
        titles(admin.clone(), wildcard, DocumentOrder::Updated, true)
            .await
            .is_empty()
    );
    let in_p1 = DocumentQuery {
        project_id: Some("p1".into()),
        task_id: Some(String::new()),
        ..DocumentQuery::default()
    };
    assert_eq!(
        titles(admin.clone(), in_p1, DocumentOrder::Updated, true).await,
        ["Alpha plan"]
    );

    // Pages continue where the last one ended.
    let page = PageRequest::first(2, DocumentOrder::Title.keyset(false));
    let first = store
        .list(org, &admin, &DocumentQuery::default(), &page)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let next = page.next(&first.next_page_token).unwrap();
    let second = store
        .list(org, &admin, &DocumentQuery::default(), &next)
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|row| row.document.title.as_str())
            .collect::<Vec<_>>(),
        ["Delta 100%_done"]
    );
    assert!(second.next_page_token.is_empty());

    // Metadata updates: etag checked, task attached and detached.
    let alpha = &made[0];
    let change = MetadataChange {
        title: Some("Alpha v2".into()),
        task_id: Some(Some("t9".into())),
        visibility: Some("organization".into()),
    };
    assert!(matches!(
        store.update(org, &alpha.id, Some(9), &change, 20_000).await,
        Err(StoreError::EtagMismatch)
    ));
    let updated = store
        .update(org, &alpha.id, Some(1), &change, 20_000)
        .await
        .unwrap();
    assert_eq!(
        (
            updated.document.title.as_str(),
            updated.document.task_id.as_deref(),
            updated.document.visibility.as_str()
        ),
        ("Alpha v2", Some("t9"), "organization")
    );
    assert_eq!(
        (
            updated.document.version,
            updated.document.updated_at,
            updated.size_bytes
        ),
        (2, 20_000, 10)
    );
    let detach = MetadataChange {
        task_id: Some(None),
        ..MetadataChange::default()
    };
    let detached = store
        .update(org, &alpha.id, None, &detach, 21_000)
        .await
        .unwrap();
    assert_eq!(
        (detached.document.task_id, detached.document.title.as_str()),
        (None, "Alpha v2")
    );
    assert!(matches!(
        store
            .update(OrganizationId::new(), &alpha.id, None, &detach, 1)
            .await,
        Err(StoreError::NotFound)
    ));

    // Idempotent uploads are found by request id.
    let with_request = DocumentRecord {
        create_request_id: Some("r1".into()),
        ..document(org, ada, None)
    };
    let first = VersionRecord {
        request_id: Some("r1".into()),
        ..version(&with_request, "9", 1, 30_000)
    };
    store
        .create(&with_request, &first, 1_000_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .by_request(org, ada, "r1")
            .await
            .unwrap()
            .map(|found| found.document_id),
        Some(with_request.id.clone())
    );
    assert_eq!(store.by_request(org, bob, "r1").await.unwrap(), None);
}
