//! A page of tasks costs the same with a thousand or a million tasks in the project: for
//! every ListTasks order, in both directions, the first page and a page from deep inside the
//! list are read through an index, without sorting the project's tasks. Proven with the query
//! planner on PostgreSQL with 1,000,000 bulk-loaded tasks, and on SQLite with 100,000.

use std::time::Instant;

use kit::Storage;
use mesh::db::Database;
use mesh::paging::{Key, PageRequest};
use mesh::testing::{RuntimePostgres, sqlite};
use projects::domain::StatusCategory;
use projects::domain::filter::{Condition, TaskOrder};
use projects::store::conformance;
use projects::store::sql::SqlProjectsStore;
use projects::store::{ProjectsStore, TaskScope, task_keyset};

const ORDERS: [TaskOrder; 6] = [
    TaskOrder::Rank,
    TaskOrder::Created,
    TaskOrder::Updated,
    TaskOrder::Priority,
    TaskOrder::Due,
    TaskOrder::Start,
];

/// A project holding `count` bulk-loaded tasks.
async fn seeded(store: &SqlProjectsStore, count: i64) -> conformance::Seed {
    let seed = conformance::seed(store, "BIG").await;
    let started = Instant::now();
    store
        .seed_tasks(
            seed.organization,
            &seed.columns[0],
            seed.owner,
            count,
            1_000_000,
        )
        .await
        .unwrap();
    println!("seeded {count} tasks in {:?}", started.elapsed());
    seed
}

/// Checks every order's first and deep pages read through an index.
async fn every_order_reads_through_an_index(
    store: &SqlProjectsStore,
    seed: &conformance::Seed,
    postgres: bool,
) {
    let scope = TaskScope::Project(seed.project.id);
    let filtered = [vec![Condition::Status(StatusCategory::Todo, false)]];
    for order in ORDERS {
        for descending in [false, true] {
            let keyset = task_keyset(order, descending, false);
            // A real position deep in the list: the first page of the opposite direction ends
            // near the far end.
            let last = store
                .tasks(
                    seed.organization,
                    &scope,
                    &[],
                    &PageRequest::first(50, task_keyset(order, !descending, false)),
                )
                .await
                .unwrap()
                .items
                .pop()
                .unwrap();
            let position: Vec<Key> = keyset
                .columns
                .iter()
                .map(|(column, _)| match *column {
                    "t.board_id" => last.board_id.to_string().into(),
                    "t.column_position" => last.column_position.into(),
                    "t.rank" => last.rank.clone().into(),
                    "t.created_at" => last.created_at.into(),
                    "t.updated_at" => last.updated_at.into(),
                    "t.priority" => last.priority.into(),
                    "t.start_asc" => last.start_at.unwrap_or(i64::MAX).into(),
                    "t.start_desc" => last.start_at.unwrap_or(-i64::MAX).into(),
                    "t.due_asc" => last.due_at.unwrap_or(i64::MAX).into(),
                    "t.due_desc" => last.due_at.unwrap_or(-i64::MAX).into(),
                    _ => last.id.to_string().into(),
                })
                .collect();
            for (what, page) in [
                ("first", PageRequest::first(50, keyset)),
                ("deep", PageRequest::starting_after(50, keyset, position)),
            ] {
                for clauses in [&[][..], &filtered[..]] {
                    let plan = store
                        .explain_tasks(seed.organization, &scope, clauses, &page)
                        .await
                        .unwrap();
                    let label = format!(
                        "{order:?} desc={descending} {what} page, {} filter(s)",
                        clauses.len()
                    );
                    if postgres {
                        assert!(!plan.contains("Sort"), "{label} sorts:\n{plan}");
                        assert!(
                            plan.contains("Index Scan"),
                            "{label} reads no index:\n{plan}"
                        );
                    } else {
                        // Each task's assignees and labels (at most ten of each) are
                        // aggregated in their own order; what must never sort is the page.
                        let page_sorts = plan.lines().any(|line| {
                            line.contains("TEMP B-TREE") && !line.contains("string_agg(ORDER BY)")
                        });
                        assert!(!page_sorts, "{label} sorts:\n{plan}");
                        assert!(
                            plan.contains("INDEX tasks_by_"),
                            "{label} reads no index:\n{plan}"
                        );
                    }
                }
                let started = Instant::now();
                let found = store
                    .tasks(seed.organization, &scope, &[], &page)
                    .await
                    .unwrap();
                assert!(!found.items.is_empty());
                println!(
                    "{order:?} desc={descending} {what} page: {:?}",
                    started.elapsed()
                );
            }
        }
    }
}

#[tokio::test]
async fn task_pages_use_an_index_with_100_000_tasks_on_sqlite() {
    let (database, _dir) = sqlite(&[&projects::migrations(), &events::migrations()]).await;
    let store = SqlProjectsStore(Storage::detached(database));
    let seed = seeded(&store, 100_000).await;
    every_order_reads_through_an_index(&store, &seed, false).await;
}

#[tokio::test]
async fn task_pages_use_an_index_with_1_000_000_tasks_on_postgres() {
    let migrations = [&projects::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "task_pages_use_an_index_on_postgres",
        "projects_scale",
        &migrations,
    )
    .await
    else {
        return;
    };
    let store = SqlProjectsStore(Storage::detached(postgres.runtime.clone()));
    let seed = seeded(&store, 1_000_000).await;
    // Statistics as autovacuum would gather them after a bulk load (the runtime role may
    // not ANALYZE; the owner may).
    let Database::Postgres { pool, .. } = postgres.owner() else {
        unreachable!()
    };
    sqlx::query("analyze tasks").execute(pool).await.unwrap();
    every_order_reads_through_an_index(&store, &seed, true).await;
    postgres.finish().await;
}
