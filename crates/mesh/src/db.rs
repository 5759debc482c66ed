//! Storage pools, migrations and the tenant-scoped transaction helper.
//!
//! Each service owns its data: in embedded mode one SQLite file per service under the data
//! directory (WAL, busy timeout, foreign keys on); on PostgreSQL one schema per service
//! (`taskmesh_<service>`), selected with `search_path` on every pooled connection.
//! Invariants: a PostgreSQL tenant transaction always starts with
//! `select set_config('app.tenant_id', $1, true)` (transaction-local, so a pooled connection
//! never carries one tenant's context into another's call); pooled PostgreSQL connections are
//! tested before use, so the pool recovers by itself after a database restart.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Executor, Postgres, Sqlite, Transaction};

use crate::config::{Config, DatabaseConfig};
use crate::error::{ErrorCode, ServiceError};
use crate::ids::OrganizationId;

/// Error domain of storage failures.
pub const STORAGE_DOMAIN: &str = "storage.taskmesh";

/// A service's database: embedded SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Database {
    /// One SQLite file for this service.
    Sqlite(SqlitePool),
    /// One PostgreSQL schema for this service.
    Postgres {
        /// The pool; its connections use `schema` as `search_path`.
        pool: PgPool,
        /// The service's schema.
        schema: String,
    },
}

/// A service's migrations for both backends, embedded with `sqlx::migrate!`.
#[derive(Debug)]
pub struct Migrations {
    /// Migrations for SQLite.
    pub sqlite: &'static Migrator,
    /// The same versions for PostgreSQL.
    pub postgres: &'static Migrator,
    /// Table recording applied versions. Distinct per migrator so that the event outbox
    /// (owned by the events crate) and the service can share one schema.
    pub table: &'static str,
}

impl Database {
    /// Opens the database of `service` as configured: PostgreSQL schema
    /// `taskmesh_<service>` when a URL is set, else `<data_dir>/<service>.db`.
    pub async fn for_service(config: &Config, service: &str) -> Result<Self, sqlx::Error> {
        match &config.database.url {
            Some(url) => {
                Self::open_postgres(url.expose(), &schema_name(service), &config.database).await
            }
            None => {
                std::fs::create_dir_all(&config.data_dir)?;
                Self::open_sqlite(
                    &config.data_dir.join(format!("{service}.db")),
                    &config.database,
                )
                .await
            }
        }
    }

    /// Opens (creating if needed) an embedded SQLite database file.
    pub async fn open_sqlite(path: &Path, config: &DatabaseConfig) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout())
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool))
    }

    /// Connects to PostgreSQL with `schema` as the search path of every connection.
    pub async fn open_postgres(
        url: &str,
        schema: &str,
        config: &DatabaseConfig,
    ) -> Result<Self, sqlx::Error> {
        Self::open_postgres_with(url.parse()?, schema, config).await
    }

    /// Like [`Database::open_postgres`], from parsed connect options.
    pub async fn open_postgres_with(
        options: PgConnectOptions,
        schema: &str,
        config: &DatabaseConfig,
    ) -> Result<Self, sqlx::Error> {
        if !is_identifier(schema) {
            return Err(sqlx::Error::Configuration(
                format!("invalid schema name {schema:?}").into(),
            ));
        }
        let search_path = format!("set search_path to \"{schema}\"");
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout())
            // After a server restart every pooled connection is dead (57P01); testing on
            // acquire lets the pool replace them instead of failing one call per connection.
            .test_before_acquire(true)
            .after_connect(move |connection, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    connection.execute(AssertSqlSafe(search_path)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self::Postgres {
            pool,
            schema: schema.to_string(),
        })
    }

    /// Applies `migrations` (creating the PostgreSQL schema first). Run with the owner role.
    pub async fn migrate(
        &self,
        migrations: &Migrations,
    ) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Sqlite(pool) => {
                with_table(migrations.sqlite, migrations.table)
                    .run(pool)
                    .await
            }
            Self::Postgres { pool, schema } => {
                pool.execute(AssertSqlSafe(format!(
                    "create schema if not exists \"{schema}\""
                )))
                .await?;
                with_table(migrations.postgres, migrations.table)
                    .run(pool)
                    .await
            }
        }
    }

    /// Lets the runtime role use this service's schema: usage, and data (not DDL) privileges
    /// on every table and sequence, now and for tables the owner creates later. Run as the
    /// owner after migrating; the runtime role owns nothing, so row-level security binds it.
    pub async fn grant_runtime_role(&self, role: &str) -> Result<(), sqlx::Error> {
        let Self::Postgres { pool, schema } = self else {
            return Ok(());
        };
        if !is_identifier(role) {
            return Err(sqlx::Error::Configuration(
                format!("invalid role name {role:?}").into(),
            ));
        }
        for statement in [
            format!("grant usage on schema \"{schema}\" to \"{role}\""),
            format!(
                "grant select, insert, update, delete on all tables in schema \"{schema}\" to \"{role}\""
            ),
            format!("grant usage, select on all sequences in schema \"{schema}\" to \"{role}\""),
            format!(
                "alter default privileges in schema \"{schema}\" grant select, insert, update, delete on tables to \"{role}\""
            ),
            format!(
                "alter default privileges in schema \"{schema}\" grant usage, select on sequences to \"{role}\""
            ),
        ] {
            pool.execute(AssertSqlSafe(statement)).await?;
        }
        Ok(())
    }

    /// On PostgreSQL, why row-level security would not bind this connection's role (it is
    /// superuser, has BYPASSRLS, or owns tables of the schema); `None` when it binds or on
    /// SQLite. Services log it at startup: fine for a laptop, wrong for production.
    pub async fn row_level_security_gap(&self) -> Result<Option<String>, sqlx::Error> {
        let Self::Postgres { pool, schema } = self else {
            return Ok(None);
        };
        let (superuser, bypass): (bool, bool) = sqlx::query_as(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user",
        )
        .fetch_one(pool)
        .await?;
        let owned: i64 = sqlx::query_scalar(
            "select count(*) from pg_tables where schemaname = $1 and tableowner = current_user",
        )
        .bind(schema)
        .fetch_one(pool)
        .await?;
        Ok(match (superuser, bypass, owned) {
            (true, _, _) => Some("the runtime role is a superuser".into()),
            (_, true, _) => Some("the runtime role has BYPASSRLS".into()),
            (_, _, owned) if owned > 0 => {
                Some(format!("the runtime role owns {owned} tables of {schema}"))
            }
            _ => None,
        })
    }

    /// True for PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    /// Checks the database answers (readiness probes).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => pool.execute("select 1").await.map(|_| ()),
            Self::Postgres { pool, .. } => pool.execute("select 1").await.map(|_| ()),
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres { pool, .. } => pool.close().await,
        }
    }
}

fn with_table(migrator: &'static Migrator, table: &'static str) -> Migrator {
    let mut migrator = Migrator::with_migrations(migrator.iter().cloned().collect());
    // Safe here: every migrator has had its own table from its first run.
    migrator.dangerous_set_table_name(table);
    migrator
}

/// The PostgreSQL schema of a service.
pub fn schema_name(service: &str) -> String {
    format!("taskmesh_{service}")
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Begins a PostgreSQL transaction bound to one tenant: row-level-security policies see
/// `app.tenant_id` for exactly this transaction.
pub async fn begin_tenant(
    pool: &PgPool,
    organization_id: OrganizationId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("select set_config('app.tenant_id', $1, true)")
        .bind(organization_id.to_string())
        .execute(&mut *transaction)
        .await?;
    Ok(transaction)
}

/// Begins a PostgreSQL transaction scoped to a user across tenants: row-level-security
/// policies that admit `app.user_id` (a user's own memberships) see this user's rows only.
/// `tenant` may be set as well.
pub async fn begin_scoped(
    pool: &PgPool,
    organization_id: Option<OrganizationId>,
    user_id: Option<crate::ids::UserId>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query(
        "select set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)",
    )
    .bind(organization_id.map(|id| id.to_string()).unwrap_or_default())
    .bind(user_id.map(|id| id.to_string()).unwrap_or_default())
    .execute(&mut *transaction)
    .await?;
    Ok(transaction)
}

/// Scopes the rest of an open PostgreSQL transaction to `organization` for row-level
/// security, for work that writes into several organizations in one transaction (a
/// user-level alert put in each of the user's organizations by an event consumer).
pub async fn scope_to_tenant_postgres(
    connection: &mut sqlx::PgConnection,
    organization: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('app.tenant_id', $1, true)")
        .bind(organization)
        .execute(connection)
        .await
        .map(|_| ())
}

/// [`scope_to_tenant_postgres`] for SQLite, which has no row-level security: nothing to do.
pub async fn scope_to_tenant_sqlite(
    _connection: &mut sqlx::SqliteConnection,
    _organization: &str,
) -> Result<(), sqlx::Error> {
    Ok(())
}

/// A SQLite write transaction and this process's turn to write to its database file; the
/// turn ends when the guard is dropped (keep it until commit or rollback).
pub type SqliteWrite = (WriteTurn, Transaction<'static, Sqlite>);

/// This process's turn to write to one SQLite database file.
pub type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// Begins a SQLite write transaction, after waiting for this process's turn to write to the
/// database. SQLite admits one writer at a time; `BEGIN IMMEDIATE` alone makes the others poll
/// in SQLite's busy handler with growing sleeps (up to 100 ms apart), leaving the lock idle
/// while they sleep. Queueing them here first, first come first served, hands the lock
/// straight on. Never begin a write while holding a turn for the same database.
pub async fn begin_sqlite_write(pool: &SqlitePool) -> Result<SqliteWrite, sqlx::Error> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, OnceLock};
    static TURNS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let file = pool.connect_options().get_filename().to_path_buf();
    let turn = TURNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(file)
        .or_default()
        .clone();
    let turn = turn.lock_owned().await;
    Ok((turn, pool.begin_with("BEGIN IMMEDIATE").await?))
}

/// Maps a storage failure to a status: pool exhaustion and lost connections are retryable
/// (UNAVAILABLE), anything else is INTERNAL with the cause only in the logs.
pub fn storage_error(error: sqlx::Error) -> ServiceError {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            tracing::warn!(%error, "storage unavailable");
            ServiceError::new(
                ErrorCode::Unavailable,
                STORAGE_DOMAIN,
                "STORAGE_UNAVAILABLE",
                "storage is temporarily unavailable",
            )
        }
        _ => ServiceError::internal(STORAGE_DOMAIN, &error),
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;

/// Runs `$body` in a write transaction on either backend, committing when it returns `Ok`.
///
/// `$body` is written once and type-checked once per backend, with `$tx` bound to a
/// `sqlx::Transaction` of that backend (use `&mut *$tx` as the executor). It runs as an
/// async block, so `return` and `?` inside it leave the body, not the enclosing function:
/// an early `return Ok(..)` still commits. SQL must therefore
/// be portable: `$n` placeholders, `bigint` millis for time, `text` ids, `on conflict`,
/// `returning`. On PostgreSQL the transaction is scoped with `begin_scoped(pool, $tenant,
/// $user)` so row-level security sees the tenant and/or user.
#[macro_export]
macro_rules! transaction {
    ($database:expr, $tenant:expr, $user:expr, |$tx:ident| $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite(pool) => {
                #[allow(unused_mut)]
                let (_turn, mut $tx) = $crate::db::begin_sqlite_write(pool).await?;
                let result = async { $body }.await;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
            $crate::db::Database::Postgres { pool, .. } => {
                #[allow(unused_mut)]
                let mut $tx = $crate::db::begin_scoped(pool, $tenant, $user).await?;
                let result = async { $body }.await;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
        }
    };
}

/// Runs `$body` (reads) with `$tx` bound to a scoped read transaction of either backend;
/// like [`transaction!`] but never takes SQLite's write lock.
#[macro_export]
macro_rules! read {
    ($database:expr, $tenant:expr, $user:expr, |$tx:ident| $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                let result = async { $body }.await;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
            $crate::db::Database::Postgres { pool, .. } => {
                #[allow(unused_mut)]
                let mut $tx = $crate::db::begin_scoped(pool, $tenant, $user).await?;
                let result = async { $body }.await;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
        }
    };
}

/// Runs `$body`, which must be **one** SQL statement, with `$tx` bound to a connection that
/// reads as the tenant; like [`read!`] but without an explicit transaction on SQLite.
///
/// A single SQLite statement already reads one snapshot, so `BEGIN` and `COMMIT` would only
/// add two round trips to the connection's worker thread (of three). On PostgreSQL the
/// row-level-security settings are transaction-local, so the scoped read transaction stays.
#[macro_export]
macro_rules! read_one {
    ($database:expr, $tenant:expr, $user:expr, |$tx:ident| $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.acquire().await?;
                async { $body }.await
            }
            $crate::db::Database::Postgres { pool, .. } => {
                #[allow(unused_mut)]
                let mut $tx = $crate::db::begin_scoped(pool, $tenant, $user).await?;
                let result = async { $body }.await;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
        }
    };
}

/// A crate's [`Migrations`]: `migrations!("_<owner>_migrations", "<sqlite dir>", "<postgres
/// dir>")`, directories relative to the calling crate, embedded at compile time.
#[macro_export]
macro_rules! migrations {
    ($table:tt, $sqlite:tt, $postgres:tt) => {{
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!($sqlite);
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!($postgres);
        $crate::db::Migrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
            table: $table,
        }
    }};
}

/// Lets store code use `?` on sqlx errors: each is classified once by [`storage_error`] and
/// kept in the service error's wire-form variant (which must implement
/// `From<ServiceError>`).
#[macro_export]
macro_rules! storage_errors_into {
    ($error:ty) => {
        impl ::std::convert::From<::sqlx::Error> for $error {
            fn from(error: ::sqlx::Error) -> Self {
                <$error as ::std::convert::From<$crate::ServiceError>>::from(
                    $crate::db::storage_error(error),
                )
            }
        }
    };
}

/// Row decoding that compiles for both backends, for store code written once.
pub mod rows {
    use sqlx::{ColumnIndex, Decode, Row, Type};

    /// Column types a row of `R` can decode.
    pub trait Decodes<R: Row>: for<'r> Decode<'r, R::Database> + Type<R::Database> {}
    impl<R: Row, T> Decodes<R> for T where T: for<'r> Decode<'r, R::Database> + Type<R::Database> {}

    /// Reads column `column` of `row`.
    pub fn get<R, T>(row: &R, column: &str) -> Result<T, sqlx::Error>
    where
        R: Row,
        T: Decodes<R>,
        for<'a> &'a str: ColumnIndex<R>,
    {
        row.try_get(column)
    }

    /// Parses a stored text column (an id, a role) into its type.
    pub fn parse<T: std::str::FromStr>(text: &str) -> Result<T, sqlx::Error>
    where
        T::Err: std::fmt::Display,
    {
        text.parse()
            .map_err(|error: T::Err| sqlx::Error::Decode(error.to_string().into()))
    }

    /// True for a unique-constraint violation (on either backend).
    pub fn is_unique_violation(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}
