//! The behaviour every [`WebhooksStore`] must have, run on SQLite and PostgreSQL.

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;

use super::webhooks::{
    AfterAttempt, Attempt, DELIVERY_ORDER, DeliveryRecord, ENDPOINT_ORDER, EndpointChange,
    EndpointRecord, WebhooksStore,
};
use crate::domain::NotificationsError;
use crate::domain::webhook_filters::{DeliveryQuery, EndpointQuery};
use crate::domain::webhooks::{DeliveryState, EndpointState};

fn endpoint(org: OrganizationId, types: &str, project: Option<&str>, at: i64) -> EndpointRecord {
    EndpointRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: project.map(str::to_string),
        url: "https://hooks.example.com/in".into(),
        description: String::new(),
        event_types: types.into(),
        state: EndpointState::Enabled.as_str().into(),
        secret_sealed: "k:sealed".into(),
        previous_secret_sealed: None,
        previous_secret_expires_at: None,
        created_by_user_id: UserId::new(),
        failing_since: None,
        create_request_id: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn delivery(endpoint: &EndpointRecord, event: &str, at: i64) -> DeliveryRecord {
    DeliveryRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: endpoint.organization_id,
        endpoint_id: endpoint.id.clone(),
        event_id: event.into(),
        event_type: "taskmesh.projects.task.created".into(),
        body: "{}".into(),
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
    }
}

fn attempt(at: i64, status: i64, next: AfterAttempt) -> Attempt {
    Attempt {
        at,
        response_status_code: status,
        latency_ms: 12,
        error: if status == 200 {
            String::new()
        } else {
            format!("HTTP {status}")
        },
        next,
        endpoint_state: None,
        counts_for_endpoint: true,
    }
}

fn page(token: &str, size: i32, order: mesh::paging::Keyset) -> PageRequest {
    PageRequest::new("t", size, token, String::new(), order).unwrap()
}

/// Runs every check.
pub async fn run(store: &dyn WebhooksStore) {
    endpoints(store).await;
    deliveries(store).await;
}

async fn endpoints(store: &dyn WebhooksStore) {
    let (a, b) = (OrganizationId::new(), OrganizationId::new());
    let first = endpoint(a, "*", None, 1_000);
    let second = endpoint(
        a,
        "taskmesh.projects.task.created\ntaskmesh.projects.task.moved",
        Some("p1"),
        2_000,
    );
    store.create_endpoint(&first, 2).await.unwrap();
    store.create_endpoint(&second, 2).await.unwrap();
    assert!(matches!(
        store
            .create_endpoint(&endpoint(a, "*", None, 3_000), 2)
            .await,
        Err(NotificationsError::EndpointLimitReached(2))
    ));
    let theirs = endpoint(b, "*", None, 1_500);
    store.create_endpoint(&theirs, 2).await.unwrap();
    assert_eq!(
        store.endpoint(a, &theirs.id).await.unwrap(),
        None,
        "another organization's endpoint"
    );
    assert_eq!(
        store.endpoint(a, &first.id).await.unwrap(),
        Some(first.clone())
    );

    // Oldest first, in pages; filters.
    let all = store
        .list_endpoints(a, &EndpointQuery::default(), &page("", 1, ENDPOINT_ORDER))
        .await
        .unwrap();
    assert_eq!(all.items, vec![first.clone()]);
    let rest = store
        .list_endpoints(
            a,
            &EndpointQuery::default(),
            &page(&all.next_page_token, 1, ENDPOINT_ORDER),
        )
        .await
        .unwrap();
    assert_eq!(rest.items, vec![second.clone()]);
    let ids = |query: EndpointQuery| async move {
        store
            .list_endpoints(a, &query, &page("", 10, ENDPOINT_ORDER))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    let moved = EndpointQuery {
        event_type: Some("taskmesh.projects.task.moved".into()),
        ..EndpointQuery::default()
    };
    assert_eq!(
        ids(moved).await,
        vec![first.id.clone(), second.id.clone()],
        "`*` subscribes to every type"
    );
    let member_added = EndpointQuery {
        event_type: Some("taskmesh.tenancy.member.added".into()),
        ..EndpointQuery::default()
    };
    assert_eq!(ids(member_added).await, vec![first.id.clone()]);
    let prefix = EndpointQuery {
        event_type: Some("taskmesh.projects.task".into()),
        project_id: Some("p1".into()),
        ..EndpointQuery::default()
    };
    assert!(
        ids(prefix).await.is_empty(),
        "types match whole, not by prefix"
    );

    // Updates check the version in the same statement; enabling forgets failures.
    let change = EndpointChange {
        description: Some("CI".into()),
        state: Some(EndpointState::Disabled),
        project_id: Some(None),
        ..EndpointChange::default()
    };
    let updated = store
        .update_endpoint(a, &second.id, Some(1), &change, 5_000)
        .await
        .unwrap();
    assert_eq!(
        (
            updated.version,
            updated.description.as_str(),
            updated.state(),
            updated.project_id
        ),
        (2, "CI", EndpointState::Disabled, None)
    );
    assert!(matches!(
        store
            .update_endpoint(a, &second.id, Some(1), &change, 5_000)
            .await,
        Err(NotificationsError::EtagMismatch)
    ));
    assert!(matches!(
        store
            .update_endpoint(b, &second.id, None, &change, 5_000)
            .await,
        Err(NotificationsError::EndpointNotFound)
    ));
    let disabled = EndpointQuery {
        state: Some(EndpointState::Disabled),
        ..EndpointQuery::default()
    };
    assert_eq!(ids(disabled).await, vec![second.id.clone()]);

    // Rotation keeps the current secret as the previous one until the grace ends.
    let rotate = |until| EndpointChange {
        rotation: Some(("k:new".into(), until)),
        ..EndpointChange::default()
    };
    let rotated = store
        .update_endpoint(a, &first.id, None, &rotate(Some(9_000)), 6_000)
        .await
        .unwrap();
    assert_eq!(rotated.secret_sealed, "k:new");
    assert_eq!(rotated.previous_secret_sealed.as_deref(), Some("k:sealed"));
    assert_eq!(rotated.previous_secret_expires_at, Some(9_000));
    let revoked = store
        .update_endpoint(a, &first.id, None, &rotate(None), 7_000)
        .await
        .unwrap();
    assert_eq!(
        (
            revoked.previous_secret_sealed,
            revoked.previous_secret_expires_at
        ),
        (None, None)
    );

    // Delete: etag checked; the endpoint's deliveries go with it.
    let queued = delivery(&second, "e-del", 8_000);
    store.queue_delivery(&queued).await.unwrap();
    assert!(matches!(
        store.delete_endpoint(a, &second.id, Some(1)).await,
        Err(NotificationsError::EtagMismatch)
    ));
    store.delete_endpoint(a, &second.id, Some(2)).await.unwrap();
    assert_eq!(store.delivery(a, &queued.id).await.unwrap(), None);
    assert!(matches!(
        store.delete_endpoint(a, &second.id, None).await,
        Err(NotificationsError::EndpointNotFound)
    ));
    assert!(matches!(
        store.delete_endpoint(b, &first.id, None).await,
        Err(NotificationsError::EndpointNotFound)
    ));
}

async fn deliveries(store: &dyn WebhooksStore) {
    let org = OrganizationId::new();
    let hook = endpoint(org, "*", None, 10_000);
    store.create_endpoint(&hook, 20).await.unwrap();
    let base = 2_000_000_000_000_i64;
    let first = delivery(&hook, "e1", base);
    let second = delivery(&hook, "e2", base + 1);
    store.queue_delivery(&first).await.unwrap();
    store.queue_delivery(&second).await.unwrap();

    // Due across organizations; one worker at a time.
    let due: Vec<String> = store
        .due_deliveries(base + 10, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.organization_id == org)
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(due, vec![first.id.clone(), second.id.clone()]);
    assert!(
        store
            .claim_delivery(&first.id, base + 10, base + 70)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_delivery(&first.id, base + 11, base + 71)
            .await
            .unwrap(),
        "claimed twice"
    );
    let due: Vec<String> = store
        .due_deliveries(base + 20, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert!(!due.contains(&first.id) && due.contains(&second.id));
    // A worker that vanished: its lease runs out and another takes the delivery.
    assert!(
        store
            .claim_delivery(&first.id, base + 70, base + 130)
            .await
            .unwrap()
    );

    // A failed attempt schedules the next and releases the claim; a success is final.
    store
        .record_attempt(
            &first,
            &attempt(base + 80, 500, AfterAttempt::RetryAt(base + 200)),
        )
        .await
        .unwrap();
    let after = store.delivery(org, &first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.status.as_str(),
            after.attempt_count,
            after.response_status_code,
            after.next_attempt_at
        ),
        ("retrying", 1, 500, Some(base + 200))
    );
    assert_eq!(
        store
            .endpoint(org, &hook.id)
            .await
            .unwrap()
            .unwrap()
            .failing_since,
        Some(base + 80)
    );
    assert!(
        !store
            .claim_delivery(&first.id, base + 100, base + 160)
            .await
            .unwrap(),
        "not due yet"
    );
    assert!(
        store
            .claim_delivery(&first.id, base + 200, base + 260)
            .await
            .unwrap()
    );
    store
        .record_attempt(&after, &attempt(base + 210, 200, AfterAttempt::Succeeded))
        .await
        .unwrap();
    let done = store.delivery(org, &first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            done.status.as_str(),
            done.attempt_count,
            done.next_attempt_at
        ),
        ("succeeded", 2, None)
    );
    assert_eq!(
        store
            .endpoint(org, &hook.id)
            .await
            .unwrap()
            .unwrap()
            .failing_since,
        None,
        "a success ends the run of failures"
    );
    assert!(
        !store
            .due_deliveries(i64::MAX / 2, 1_000)
            .await
            .unwrap()
            .iter()
            .any(|d| d.delivery_id == first.id)
    );
    let attempts = store
        .attempts(org, std::slice::from_ref(&first.id))
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.number, a.response_status_code))
            .collect::<Vec<_>>(),
        vec![(1, 500), (2, 200)]
    );
    assert!(
        store
            .attempts(OrganizationId::new(), std::slice::from_ref(&first.id))
            .await
            .unwrap()
            .is_empty()
    );

    // Giving up with 410 switches the endpoint off.
    let mut gone = attempt(base + 300, 410, AfterAttempt::Failed(None));
    gone.endpoint_state = Some(EndpointState::Gone);
    store.record_attempt(&second, &gone).await.unwrap();
    assert_eq!(
        store
            .endpoint(org, &hook.id)
            .await
            .unwrap()
            .unwrap()
            .state(),
        EndpointState::Gone
    );
    assert_eq!(
        store
            .delivery(org, &second.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "failed"
    );

    // The log: newest first, filtered.
    let log = store
        .list_deliveries(
            org,
            &hook.id,
            &DeliveryQuery::default(),
            &page("", 10, DELIVERY_ORDER),
        )
        .await
        .unwrap();
    assert_eq!(
        log.items
            .iter()
            .map(|d| d.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["e2", "e1"]
    );
    let failed = DeliveryQuery {
        status: Some(DeliveryState::Failed),
        ..DeliveryQuery::default()
    };
    let log = store
        .list_deliveries(org, &hook.id, &failed, &page("", 10, DELIVERY_ORDER))
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert!(
        store
            .list_deliveries(
                OrganizationId::new(),
                &hook.id,
                &DeliveryQuery::default(),
                &page("", 10, DELIVERY_ORDER)
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Redeliveries are found by their idempotency key.
    let user = UserId::new();
    let again = DeliveryRecord {
        request_id: Some("r1".into()),
        created_by_user_id: Some(user.to_string()),
        ..delivery(&hook, "e1", base + 400)
    };
    store.queue_delivery(&again).await.unwrap();
    assert_eq!(
        store.delivery_by_request(org, user, "r1").await.unwrap(),
        Some(again.clone())
    );
    assert_eq!(
        store
            .delivery_by_request(org, UserId::new(), "r1")
            .await
            .unwrap(),
        None
    );

    // Final deliveries older than the retention go; pending ones stay.
    let purged = store.purge_deliveries(base + 350, 1_000).await.unwrap();
    assert!(purged >= 2, "purged {purged}");
    assert_eq!(store.delivery(org, &first.id).await.unwrap(), None);
    assert!(store.delivery(org, &again.id).await.unwrap().is_some());
}
