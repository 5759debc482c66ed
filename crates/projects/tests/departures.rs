//! Someone who leaves the organization leaves its projects: tenancy's `member.removed`,
//! consumed exactly once, ends their project memberships, unassigns them from open tasks
//! (closed tasks keep them), clears them as project lead, and publishes what changed. On
//! SQLite and on PostgreSQL as the runtime role under row-level security.

use std::sync::Arc;
use std::time::Duration;

use events::consumer::Outcome;
use events::{Bus, Consumer, ConsumerConfig, StartAt};
use kit::Storage;
use mesh::db::Database;
use mesh::ids::UserId;
use mesh::testing::{RuntimePostgres, sqlite};
use projects::store::conformance::{self, Seed};
use projects::store::sql::SqlProjectsStore;
use projects::store::sql_departures::{DepartureHandler, MEMBER_REMOVED};
use projects::store::{Effects, MemberRecord, Op, ProjectsStore};
use taskmesh::events::v1::MemberRemoved;

async fn departure_leaves_no_trace(database: Database) {
    let store = SqlProjectsStore(Storage::detached(database.clone()));
    let seed: Seed = conformance::seed(&store, "GONE").await;
    let org = seed.organization;
    let leaver = UserId::new();
    let member = MemberRecord {
        organization_id: org,
        project_id: seed.project.id,
        user_id: leaver,
        role: "member".into(),
        created_at: 1,
        updated_at: 1,
        version: 1,
    };
    let open = conformance::task(&seed, 1, &seed.columns[0], "a", 1);
    let closed = conformance::task(&seed, 2, &seed.columns[2], "b", 2);
    let mut led = seed.project.clone();
    led.lead_user_id = Some(leaver);
    led.version = 2;
    store
        .apply(
            org,
            vec![
                Op::InsertMember(member),
                Op::UpdateProject(led, 1),
                Op::TakeTaskNumber(seed.project.id, 1),
                Op::InsertTask(open.clone()),
                Op::SetAssignees(open.id, vec![leaver, seed.owner]),
                Op::TakeTaskNumber(seed.project.id, 2),
                Op::InsertTask(closed.clone()),
                Op::SetAssignees(closed.id, vec![leaver]),
            ],
            Effects::none(),
        )
        .await
        .unwrap();

    let bus = events::memory::InProcessBus::default();
    let config = ConsumerConfig {
        name: "projects-departures".into(),
        filter_subjects: vec![MEMBER_REMOVED.into()],
        ack_wait: Duration::from_secs(30),
        ephemeral: false,
        start: StartAt::Beginning,
    };
    let consumer = Consumer::new(
        config.clone(),
        Arc::new(bus.clone()),
        database,
        Arc::new(DepartureHandler),
        3,
    );
    let mut subscription = bus.subscribe(&config).await.unwrap();
    let departed = kit::Topic::<MemberRemoved>::new(MEMBER_REMOVED)
        .event(
            format!("organizations/{org}/members/{leaver}"),
            &MemberRemoved {
                organization_id: org.to_string(),
                user_id: leaver.to_string(),
                role: "member".into(),
            },
        )
        .tenant(org)
        .service_actor("tenancy")
        .build();
    bus.publish(&departed).await.unwrap();
    let delivery = subscription.next().await.unwrap();
    assert_eq!(consumer.process(delivery).await.unwrap(), Outcome::Applied);

    assert!(
        store
            .member(org, seed.project.id, leaver)
            .await
            .unwrap()
            .is_none()
    );
    let open = store.task(org, open.id, false).await.unwrap().unwrap();
    assert_eq!(open.assignee_user_ids, vec![seed.owner]);
    assert_eq!(open.version, 2, "the unassigned task's etag moved");
    let closed = store.task(org, closed.id, false).await.unwrap().unwrap();
    assert_eq!(
        closed.assignee_user_ids,
        vec![leaver],
        "closed tasks keep the record"
    );
    assert_eq!(
        store
            .project(org, seed.project.id)
            .await
            .unwrap()
            .unwrap()
            .lead_user_id,
        None
    );
}

#[tokio::test]
async fn a_departure_ends_project_memberships_and_open_assignments_on_sqlite() {
    let (database, _dir) = sqlite(&[&projects::migrations(), &events::migrations()]).await;
    departure_leaves_no_trace(database).await;
}

#[tokio::test]
async fn a_departure_ends_project_memberships_and_open_assignments_on_postgres() {
    let migrations = [&projects::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "a_departure_ends_project_memberships_on_postgres",
        "projects_departures",
        &migrations,
    )
    .await
    else {
        return;
    };
    departure_leaves_no_trace(postgres.runtime.clone()).await;
    postgres.finish().await;
}
