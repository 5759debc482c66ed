//! Helpers for tests that need real infrastructure.
//!
//! Tests that need PostgreSQL or NATS read `TASKMESH_TEST_DATABASE_URL` /
//! `TASKMESH_TEST_NATS_URL`. Without them they print a line saying they were skipped and
//! return; CI sets both (and fails if a service is missing), so nothing is skipped there.

use crate::config::DatabaseConfig;
use crate::db::Database;

/// The PostgreSQL URL for tests, or `None` after printing that the test is skipped.
pub fn database_url(test: &str) -> Option<String> {
    let url = std::env::var("TASKMESH_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        println!("skipped {test}: TASKMESH_TEST_DATABASE_URL is not set");
    }
    url
}

/// The NATS URL for tests, or `None` after printing that the test is skipped.
pub fn nats_url(test: &str) -> Option<String> {
    let url = std::env::var("TASKMESH_TEST_NATS_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        println!("skipped {test}: TASKMESH_TEST_NATS_URL is not set");
    }
    url
}

/// A unique lowercase name for a schema, stream or role created by one test.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A PostgreSQL database in a fresh schema; call [`TestPostgres::drop_schema`] at the end.
pub struct TestPostgres {
    /// The database, with the schema as search path.
    pub database: Database,
    /// The schema's name.
    pub schema: String,
}

impl TestPostgres {
    /// Connects to `url` with a new unique schema named after `prefix`.
    pub async fn new(url: &str, prefix: &str) -> Self {
        let schema = unique_name(prefix);
        let database = Database::open_postgres(url, &schema, &DatabaseConfig::default())
            .await
            .expect("connect to the test PostgreSQL");
        Self { database, schema }
    }

    /// A login role that owns nothing, is not superuser and has no BYPASSRLS, granted data
    /// privileges on this schema (as `taskmesh migrate` grants `database.runtime_role`), and
    /// a database connected as that role. Call after migrating; drop with
    /// [`TestPostgres::drop_runtime_role`].
    pub async fn runtime_role(&self, url: &str) -> (Database, String) {
        let role = unique_name("runtime");
        let Database::Postgres { pool, .. } = &self.database else {
            unreachable!("postgres")
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create role \"{role}\" login nosuperuser nobypassrls nocreatedb nocreaterole"
        )))
        .execute(pool)
        .await
        .expect("create runtime role");
        self.database
            .grant_runtime_role(&role)
            .await
            .expect("grant runtime role");
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("test URL");
        let database = Database::open_postgres_with(
            options.username(&role),
            &self.schema,
            &DatabaseConfig::default(),
        )
        .await
        .expect("connect as the runtime role");
        (database, role)
    }

    /// Drops a role made by [`TestPostgres::runtime_role`] (call before `drop_schema`).
    pub async fn drop_runtime_role(&self, role: &str) {
        let Database::Postgres { pool, .. } = &self.database else {
            return;
        };
        for statement in [
            format!("drop owned by \"{role}\""),
            format!("drop role if exists \"{role}\""),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(pool)
                .await
                .expect("drop runtime role");
        }
    }

    /// Drops the schema and everything in it, then closes the pool.
    pub async fn drop_schema(self) {
        if let Database::Postgres { pool, schema } = &self.database {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop schema if exists \"{schema}\" cascade"
            )))
            .execute(pool)
            .await
            .expect("drop test schema");
        }
        self.database.close().await;
    }
}
