//! Helpers for tests that need real infrastructure.
//!
//! Tests that need PostgreSQL or NATS read `TASKMESH_TEST_DATABASE_URL` /
//! `TASKMESH_TEST_NATS_URL`. Without them they print a line saying they were skipped and
//! return; CI sets both (and fails if a service is missing), so nothing is skipped there.

use crate::config::DatabaseConfig;
use crate::db::{Database, Migrations};

/// A fresh SQLite database with `migrations` applied, in a temporary directory that lives as
/// long as the returned guard.
pub async fn sqlite(migrations: &[&Migrations]) -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = Database::open_sqlite(&dir.path().join("test.db"), &DatabaseConfig::default())
        .await
        .expect("open SQLite");
    for migrations in migrations {
        database.migrate(migrations).await.expect("migrate SQLite");
    }
    (database, dir)
}

/// A fresh PostgreSQL schema migrated by the owner, and a connection to it as a runtime role
/// that owns nothing (what services run as, so row-level security binds it).
pub struct RuntimePostgres {
    /// The connection as the runtime role.
    pub runtime: Database,
    owner: TestPostgres,
    role: String,
}

impl RuntimePostgres {
    /// Sets one up for `test`, or returns `None` (printing that it skipped) without
    /// `TASKMESH_TEST_DATABASE_URL`.
    pub async fn start(test: &str, prefix: &str, migrations: &[&Migrations]) -> Option<Self> {
        let url = database_url(test)?;
        let owner = TestPostgres::new(&url, prefix).await;
        for migrations in migrations {
            owner.database.migrate(migrations).await.expect("migrate");
        }
        let (runtime, role) = owner.runtime_role(&url).await;
        Some(Self {
            runtime,
            owner,
            role,
        })
    }

    /// Asserts what makes row-level security bind: the runtime role is no superuser, has no
    /// BYPASSRLS and owns no table of the schema; every table in `tenant_tables` has RLS
    /// enabled and forced, and shows no row to a query without tenant context.
    pub async fn assert_row_level_security(&self, tenant_tables: &[&str]) {
        let Database::Postgres { pool, schema } = &self.runtime else {
            unreachable!("postgres")
        };
        let (superuser, bypass): (bool, bool) = sqlx::query_as(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user",
        )
        .fetch_one(pool)
        .await
        .expect("read role");
        assert!(!superuser && !bypass, "the runtime role bypasses RLS");
        let owned: i64 = sqlx::query_scalar(
            "select count(*) from pg_tables where schemaname = $1 and tableowner = current_user",
        )
        .bind(schema)
        .fetch_one(pool)
        .await
        .expect("count owned tables");
        assert_eq!(owned, 0, "the runtime role must own no table");
        for table in tenant_tables {
            let forced: bool = sqlx::query_scalar("select c.relrowsecurity and c.relforcerowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2")
                .bind(schema)
                .bind(table)
                .fetch_one(pool)
                .await
                .expect("read table");
            assert!(
                forced,
                "row-level security not enabled and forced on {table}"
            );
            let visible: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                    .fetch_one(pool)
                    .await
                    .expect("count rows");
            assert_eq!(visible, 0, "{table} shows rows without tenant context");
        }
    }

    /// The connection as the schema's owner (for what the runtime role may not do, like
    /// ANALYZE after a bulk load).
    pub fn owner(&self) -> &Database {
        &self.owner.database
    }

    /// Drops the role and the schema.
    pub async fn finish(self) {
        self.runtime.close().await;
        self.owner.drop_runtime_role(&self.role).await;
        self.owner.drop_schema().await;
    }
}

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
