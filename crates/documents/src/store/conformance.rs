//! The behaviour every [`DocumentsStore`] must have, run on SQLite and PostgreSQL.

use mesh::ids::{OrganizationId, UserId};

use super::{DocumentRecord, DocumentsStore, StoreError, VersionRecord};

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
    assert_eq!(store.get(org, &spec.id).await.unwrap(), Some(spec.clone()));
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
        .versions(org, &spec.id)
        .await
        .unwrap()
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
    assert!(store.versions(other, &spec.id).await.unwrap().is_empty());

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
}
