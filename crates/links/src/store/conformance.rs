//! The behaviour every [`LinksStore`] must have, run on SQLite and PostgreSQL.

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;

use super::{LinkChange, LinkOrder, LinkRecord, LinksStore, VISITS_ORDER, VisitRecord};
use crate::domain::LinksError;
use crate::domain::rules::LinkQuery;

fn link(org: OrganizationId, user: UserId, slug: &str, at: i64) -> LinkRecord {
    LinkRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        slug: slug.into(),
        target_kind: "task".into(),
        target_id: "t1".into(),
        expires_at: None,
        max_visits: 0,
        visit_count: 0,
        password_hash: None,
        note: String::new(),
        allow_comments: false,
        disabled: false,
        created_by_user_id: user,
        create_request_id: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn visit(link: &LinkRecord, at: i64) -> VisitRecord {
    VisitRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: link.organization_id,
        link_id: link.id.clone(),
        visited_at: at,
        referrer_host: "mail.example.com".into(),
        browser: "Firefox".into(),
        os: "Linux".into(),
        device_class: "desktop".into(),
        bot: false,
        anonymized_address: "203.0.113.0".into(),
        country: String::new(),
    }
}

/// Runs every check.
pub async fn run(store: &dyn LinksStore) {
    let (org, other) = (OrganizationId::new(), OrganizationId::new());
    let ada = UserId::new();
    let first = LinkRecord {
        max_visits: 2,
        create_request_id: Some("r1".into()),
        ..link(org, ada, "alpha-1", 1_000)
    };
    store.create(&first).await.unwrap();
    assert!(
        matches!(
            store.create(&link(other, ada, "alpha-1", 1_001)).await,
            Err(LinksError::SlugTaken)
        ),
        "slugs are unique across organizations"
    );
    assert_eq!(
        store.get(org, &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get(other, &first.id).await.unwrap(), None);
    assert_eq!(
        store
            .by_slug("alpha-1")
            .await
            .unwrap()
            .map(|found| found.id),
        Some(first.id.clone())
    );
    assert_eq!(store.by_slug("nope").await.unwrap(), None);
    assert_eq!(
        store
            .by_request(org, ada, "r1")
            .await
            .unwrap()
            .map(|found| found.id),
        Some(first.id.clone())
    );

    // Visits count up to the limit and no further; each counted visit is recorded.
    assert_eq!(
        store
            .count_visit(&visit(&first, 2_000), "h")
            .await
            .unwrap()
            .map(|l| l.visit_count),
        Some(1)
    );
    assert_eq!(
        store
            .count_visit(&visit(&first, 2_001), "h")
            .await
            .unwrap()
            .map(|l| l.visit_count),
        Some(2)
    );
    assert_eq!(
        store.count_visit(&visit(&first, 2_002), "h").await.unwrap(),
        None
    );
    let visits = store
        .visits(org, &first.id, &PageRequest::first(10, VISITS_ORDER))
        .await
        .unwrap();
    assert_eq!(
        visits
            .items
            .iter()
            .map(|v| v.visited_at)
            .collect::<Vec<_>>(),
        [2_001, 2_000]
    );
    assert!(
        store
            .visits(other, &first.id, &PageRequest::first(10, VISITS_ORDER))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Expired and disabled links count nothing.
    let expiring = LinkRecord {
        expires_at: Some(5_000),
        ..link(org, ada, "beta-2", 1_100)
    };
    store.create(&expiring).await.unwrap();
    assert_eq!(
        store
            .count_visit(&visit(&expiring, 5_000), "h")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .count_visit(&visit(&expiring, 4_999), "h")
            .await
            .unwrap()
            .is_some()
    );
    let off = LinkRecord {
        disabled: true,
        target_kind: "document".into(),
        target_id: "d1".into(),
        ..link(org, ada, "gamma-3", 1_200)
    };
    store.create(&off).await.unwrap();
    assert_eq!(
        store.count_visit(&visit(&off, 2_000), "h").await.unwrap(),
        None
    );

    // Lists filter and order.
    let slugs = |query: LinkQuery, order: LinkOrder, descending: bool| async move {
        store
            .list(
                org,
                &query,
                6_000,
                &PageRequest::first(10, order.keyset(descending)),
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|l| l.slug)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        slugs(LinkQuery::default(), LinkOrder::Created, true).await,
        ["gamma-3", "beta-2", "alpha-1"]
    );
    assert_eq!(
        slugs(
            LinkQuery {
                disabled: Some(true),
                ..LinkQuery::default()
            },
            LinkOrder::Created,
            true
        )
        .await,
        ["gamma-3"]
    );
    assert_eq!(
        slugs(
            LinkQuery {
                expired: Some(true),
                ..LinkQuery::default()
            },
            LinkOrder::Created,
            true
        )
        .await,
        ["beta-2"]
    );
    assert_eq!(
        slugs(
            LinkQuery {
                target: Some(("document", "d1".into())),
                ..LinkQuery::default()
            },
            LinkOrder::Created,
            true
        )
        .await,
        ["gamma-3"]
    );
    assert_eq!(
        slugs(
            LinkQuery {
                slug: Some("ta-".into()),
                ..LinkQuery::default()
            },
            LinkOrder::Created,
            true
        )
        .await,
        ["beta-2"]
    );
    assert_eq!(
        slugs(LinkQuery::default(), LinkOrder::Visits, true).await[0],
        "alpha-1"
    );
    assert_eq!(
        slugs(LinkQuery::default(), LinkOrder::Expires, false).await[0],
        "beta-2"
    );

    // Updates: etag, a new slug frees the old one.
    let change = LinkChange {
        slug: Some("alpha-renamed".into()),
        max_visits: Some(5),
        note: Some("hello".into()),
        ..LinkChange::default()
    };
    assert!(matches!(
        store.update(org, &first.id, Some(9), &change, 7_000).await,
        Err(LinksError::EtagMismatch)
    ));
    let renamed = store
        .update(org, &first.id, Some(1), &change, 7_000)
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.slug.as_str(),
            renamed.max_visits,
            renamed.note.as_str(),
            renamed.version,
            renamed.visit_count
        ),
        ("alpha-renamed", 5, "hello", 2, 2)
    );
    assert_eq!(store.by_slug("alpha-1").await.unwrap(), None);
    assert!(matches!(
        store
            .update(
                org,
                &expiring.id,
                None,
                &LinkChange {
                    slug: Some("gamma-3".into()),
                    ..LinkChange::default()
                },
                7_001
            )
            .await,
        Err(LinksError::SlugTaken)
    ));
    store
        .create(&link(other, ada, "alpha-1", 7_002))
        .await
        .unwrap();

    // Attempt counters: reserved before a check, locked past the limit (each locked
    // attempt lengthening the lock), released by a right password, fresh after the window.
    let counters = [("link:x".to_string(), 3), ("source:x:1".to_string(), 2)];
    for at in [100, 101] {
        assert_eq!(
            store.reserve_attempt(&counters, 1_000, at).await.unwrap(),
            None
        );
    }
    assert_eq!(
        store.reserve_attempt(&counters, 1_000, 102).await.unwrap(),
        Some(std::time::Duration::from_millis(998)),
        "the source counter is locked"
    );
    assert_eq!(
        store.reserve_attempt(&counters, 1_000, 103).await.unwrap(),
        Some(std::time::Duration::from_millis(1_997)),
        "each locked attempt doubles the window"
    );
    // A right password releases: the source counter is gone, the link counter gives one back.
    store
        .release_attempt(&[counters[0].0.clone()], &[counters[1].0.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .reserve_attempt(&counters, 1_000, 104)
            .await
            .unwrap()
            .map(|wait| wait.as_millis()),
        Some(996),
        "the link counter (3 of 3) is still locked"
    );
    assert_eq!(
        store
            .reserve_attempt(&counters, 1_000, 10_000)
            .await
            .unwrap(),
        None,
        "windows over: fresh"
    );

    // Deleting frees the slug and drops the visits.
    assert!(matches!(
        store.delete(other, &first.id, None, ada).await,
        Err(LinksError::LinkNotFound)
    ));
    store.delete(org, &first.id, Some(2), ada).await.unwrap();
    assert_eq!(store.by_slug("alpha-renamed").await.unwrap(), None);
    assert!(
        store
            .visits(org, &first.id, &PageRequest::first(10, VISITS_ORDER))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    store
        .create(&link(org, ada, "alpha-renamed", 8_000))
        .await
        .unwrap();
}
