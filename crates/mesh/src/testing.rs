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
