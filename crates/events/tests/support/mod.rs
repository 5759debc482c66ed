//! Fixtures for the backbone tests: every combination of database (SQLite always,
//! PostgreSQL with `TASKMESH_TEST_DATABASE_URL`) and bus (in-process always, JetStream with
//! `TASKMESH_TEST_NATS_URL`), plus a TCP proxy that can cut the NATS connection.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::bus::{Bus, BusError, ConsumerConfig, EventMessage, Subscription};
use events::jetstream::JetStreamBus;
use events::memory::InProcessBus;
use events::{EventTx, Handler, HandlerError};
use mesh::config::DatabaseConfig;
use mesh::db::{Database, Migrations};
use mesh::testing;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use taskmesh::events::v1::Event;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One database + one bus, isolated from every other test.
pub struct Fixture {
    pub label: String,
    pub database: Database,
    pub bus: Arc<dyn Bus>,
    pub namespace: String,
    cleanup: Vec<Cleanup>,
    _dir: Option<tempfile::TempDir>,
}

enum Cleanup {
    Schema(testing::TestPostgres),
    Streams(Box<JetStreamBus>),
}

impl Fixture {
    pub fn subject(&self, verb: &str) -> String {
        format!("{}.svc.thing.{verb}", self.namespace)
    }

    pub fn consumer(&self, name: &str) -> ConsumerConfig {
        ConsumerConfig {
            name: name.to_string(),
            filter_subjects: vec![format!("{}.svc.thing.*", self.namespace)],
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        }
    }

    pub async fn finish(self) {
        for cleanup in self.cleanup {
            match cleanup {
                Cleanup::Schema(schema) => schema.drop_schema().await,
                Cleanup::Streams(bus) => bus.delete_streams().await.expect("delete test streams"),
            }
        }
    }
}

fn test_migrations() -> Migrations {
    static MIGRATOR: std::sync::OnceLock<&'static Migrator> = std::sync::OnceLock::new();
    let migrator = MIGRATOR.get_or_init(|| {
        let migration = Migration::new(
            1,
            "effects".into(),
            MigrationType::Simple,
            sqlx::SqlSafeStr::into_sql_str("create table things (id text primary key); create table effects (event_id text primary key)"),
            false,
        );
        Box::leak(Box::new(Migrator::with_migrations(vec![migration])))
    });
    Migrations {
        sqlite: migrator,
        postgres: migrator,
        table: "_test_migrations",
    }
}

async fn migrate(database: &Database) {
    database
        .migrate(&events::migrations())
        .await
        .expect("events migrations");
    database
        .migrate(&test_migrations())
        .await
        .expect("test migrations");
}

pub enum BusKind {
    Memory,
    Nats(String),
    /// NATS behind a proxy that can cut the connection.
    ProxiedNats(String, Arc<Proxy>),
}

/// Every database available here.
pub async fn databases(
    test: &str,
) -> Vec<(
    String,
    Database,
    Option<testing::TestPostgres>,
    Option<tempfile::TempDir>,
)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Database::open_sqlite(&dir.path().join("svc.db"), &DatabaseConfig::default())
        .await
        .unwrap();
    migrate(&sqlite).await;
    out.push(("sqlite".to_string(), sqlite, None, Some(dir)));
    if let Some(url) = testing::database_url(test) {
        let schema = testing::TestPostgres::new(&url, "events").await;
        migrate(&schema.database).await;
        out.push((
            "postgres".to_string(),
            schema.database.clone(),
            Some(schema),
            None,
        ));
    }
    out
}

/// Every (database, bus) combination available here, each with its own fresh database.
pub async fn fixtures(test: &str) -> Vec<Fixture> {
    let nats = testing::nats_url(test);
    let mut fixtures = Vec::new();
    for (db_label, database, schema, dir) in databases(test).await {
        fixtures.push(Fixture {
            label: format!("{db_label}+memory"),
            database,
            bus: Arc::new(InProcessBus::default()),
            namespace: testing::unique_name("tm"),
            cleanup: schema.map(Cleanup::Schema).into_iter().collect(),
            _dir: dir,
        });
    }
    if let Some(url) = &nats {
        for (db_label, database, schema, dir) in databases(test).await {
            let bus = JetStreamBus::connect(url, Duration::from_secs(2))
                .await
                .expect("connect NATS");
            let mut cleanup = vec![Cleanup::Streams(Box::new(bus.clone()))];
            cleanup.extend(schema.map(Cleanup::Schema));
            fixtures.push(Fixture {
                label: format!("{db_label}+jetstream"),
                database,
                bus: Arc::new(bus),
                namespace: testing::unique_name("tm"),
                cleanup,
                _dir: dir,
            });
        }
    }
    fixtures
}

/// Records each applied event in `effects` (in the consumer's transaction) and fails for
/// events whose resource is `poison`.
#[derive(Default)]
pub struct RecordingHandler {
    pub calls: AtomicU32,
}

#[async_trait::async_trait]
impl Handler for RecordingHandler {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if event.resource == "poison" {
            return Err(HandlerError("poisoned event".into()));
        }
        let insert = "insert into effects (event_id) values ($1)";
        match tx {
            EventTx::Sqlite(connection) => {
                sqlx::query(insert)
                    .bind(&event.id)
                    .execute(connection)
                    .await?;
            }
            EventTx::Postgres(connection) => {
                sqlx::query(insert)
                    .bind(&event.id)
                    .execute(connection)
                    .await?;
            }
        }
        Ok(())
    }
}

pub async fn count(database: &Database, table: &str) -> i64 {
    let query = format!("select count(*) from {table}");
    match database {
        Database::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(pool)
            .await
            .unwrap(),
        Database::Postgres { pool, .. } => sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// A bus wrapper that can be switched off, for the in-process outage test.
pub struct Switchable {
    pub inner: Arc<dyn Bus>,
    pub up: AtomicBool,
}

#[async_trait::async_trait]
impl Bus for Switchable {
    async fn publish(&self, message: &EventMessage) -> Result<(), BusError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable("switched off".into()));
        }
        self.inner.publish(message).await
    }

    async fn subscribe(&self, config: &ConsumerConfig) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe(config).await
    }
}

/// A loopback TCP proxy in front of NATS whose connections can be cut and refused.
pub struct Proxy {
    pub address: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Arc<Self> {
        let upstream = upstream.trim_start_matches("nats://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let up = up.clone();
            let pipes = pipes.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    pipes.lock().unwrap().push(pipe);
                }
            })
        };
        Arc::new(Self {
            address,
            up,
            pipes,
            accept,
        })
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

impl Fixture {
    /// A fixture whose cleanup the caller handles.
    pub fn external(
        label: String,
        database: Database,
        bus: Arc<dyn Bus>,
        namespace: String,
    ) -> Self {
        Self {
            label,
            database,
            bus,
            namespace,
            cleanup: Vec::new(),
            _dir: None,
        }
    }
}
