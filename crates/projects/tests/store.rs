//! The projects store conformance suite on SQLite and on PostgreSQL (as a runtime role under
//! row-level security), plus proof that PostgreSQL refuses rows without tenant context.

use kit::Storage;
use mesh::db::Database;
use mesh::testing::{RuntimePostgres, sqlite};
use projects::store::conformance;
use projects::store::sql::SqlProjectsStore;

const TENANT_TABLES: [&str; 13] = [
    "projects",
    "project_members",
    "labels",
    "boards",
    "board_columns",
    "tasks",
    "task_assignees",
    "task_labels",
    "comments",
    "work_logs",
    "task_activity",
    "undo_actions",
    "board_changes",
];

#[tokio::test]
async fn projects_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&projects::migrations(), &events::migrations()]).await;
    conformance::run(&SqlProjectsStore(Storage::detached(database))).await;
}

#[tokio::test]
async fn projects_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&projects::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "projects_store_conforms_on_postgres",
        "projects",
        &migrations,
    )
    .await
    else {
        return;
    };
    let store = SqlProjectsStore(Storage::detached(postgres.runtime.clone()));
    conformance::run(&store).await;
    postgres.assert_row_level_security(&TENANT_TABLES).await;
    let Database::Postgres { pool, .. } = &postgres.runtime else {
        unreachable!()
    };
    let seed = conformance::seed(&store, "RLS").await;
    let mut transaction = mesh::db::begin_tenant(pool, seed.organization)
        .await
        .unwrap();
    let ids: Vec<String> = sqlx::query_scalar("select distinct organization_id from projects")
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(ids, vec![seed.organization.to_string()]);
    let foreign = sqlx::query("insert into labels (id, organization_id, project_id, name, name_key, description, color, creator_user_id, created_at, updated_at, version) values ('x', 'other-tenant', $1, 'n', 'n', '', '#000000', 'u', 0, 0, 1)")
        .bind(seed.project.id)
        .execute(&mut *transaction)
        .await;
    assert!(
        foreign.is_err(),
        "row-level security let a foreign tenant's row in"
    );
    transaction.rollback().await.unwrap();
    postgres.finish().await;
}
