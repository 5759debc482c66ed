//! The notifications service: each user's inbox per organization (list, unread count, mark
//! read, archive, a live stream) and their notification preferences, filled from the events
//! of projects and tenancy by durable consumers (exactly once per event).
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules: kinds, who hears about what) →
//! [`store`] (sqlx; row-level security on PostgreSQL; the event handler). [`events`] names
//! what it publishes. The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod mail;
pub mod projects;
pub mod store;
pub mod webhooks;

use std::sync::Arc;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use serde::{Deserialize, Serialize};
use taskmesh::notifications::v1::notification_service_server::NotificationServiceServer;
use taskmesh::notifications::v1::webhook_service_server::WebhookServiceServer;

use crate::api::NotificationsApi;
use crate::api::webhooks::WebhooksApi;
use crate::domain::signing::SecretKey;
use crate::store::sql::SqlNotificationsStore;
use crate::store::sql_inbox::{IDENTITY_EVENTS, InboxHandler, PROJECTS_EVENTS, TENANCY_EVENTS};
use crate::store::sql_webhook_fanout::{
    DOCUMENTS_EVENTS, InboxAndWebhooks, LINKS_EVENTS, NOTIFICATIONS_EVENTS,
};

pub use store::sql::migrations;

/// Notifications as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "notifications",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[notifications]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Most open StreamNotifications streams per user and process.
    pub max_streams_per_user: usize,
    /// Seconds of silence after which a stream sends a heartbeat.
    pub stream_heartbeat_secs: u64,
    /// SMTP relay for email (`smtp://host:25`, `smtp://user:password@host:587?tls=required`,
    /// `smtps://host:465`); unset: emails are written as `.eml` files under
    /// `<data_dir>/mail`.
    pub smtp_url: Option<mesh::config::Secret>,
    /// Sender of every email.
    pub mail_from: String,
    /// Base URL of the links in emails (the web console that accepts invitations and resets
    /// passwords).
    pub app_url: String,
    /// A task due within this many seconds reminds its assignees (TASK_DUE_SOON), once per
    /// due time.
    pub due_soon_window_secs: u64,
    /// How often each replica looks for reminders to send.
    pub reminder_scan_secs: u64,
    /// Networks (CIDRs) webhooks may reach although they are loopback, private, link-local,
    /// ... (an on-premise receiver); empty: public addresses only.
    pub webhook_allowed_networks: Vec<ipnet::IpNet>,
    /// The key (base64 of 32 bytes) that encrypts webhook signing secrets at rest; every
    /// replica must have the same. Unset: generated once into
    /// `<data_dir>/notifications-webhook.key`.
    pub webhook_secret_key: Option<mesh::config::Secret>,
    /// Waits between webhook attempts, in milliseconds (one per retry; 8 attempts by
    /// default: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each stretched by up to 25%
    /// jitter).
    pub webhook_retry_delays_ms: Vec<u64>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            max_streams_per_user: 10,
            stream_heartbeat_secs: 30,
            smtp_url: None,
            mail_from: "taskmesh <no-reply@taskmesh.localhost>".into(),
            app_url: "http://localhost:50051".into(),
            due_soon_window_secs: 24 * 3_600,
            reminder_scan_secs: 60,
            webhook_allowed_networks: Vec::new(),
            webhook_secret_key: None,
            webhook_retry_delays_ms: domain::webhooks::RETRY_DELAYS
                .iter()
                .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                .collect(),
        }
    }
}

/// Sends due reminders every `reminder_scan_secs` until `shutdown` (every replica scans; each
/// reminder is created once, see `store::sql_deadlines`).
async fn reminders(
    store: Arc<dyn store::NotificationsStore>,
    config: NotificationsConfig,
    shutdown: mesh::server::Shutdown,
) {
    let window =
        i64::try_from(config.due_soon_window_secs.saturating_mul(1_000)).unwrap_or(i64::MAX / 4);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(
        config.reminder_scan_secs.max(1),
    ));
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = ticks.tick() => {}
        }
        match store
            .remind_due(mesh::time::now_millis(), window, &config.app_url)
            .await
        {
            Ok(0) => {}
            Ok(created) => tracing::info!(created, "due reminders sent"),
            Err(error) => tracing::warn!(%error, "cannot send due reminders yet; retrying"),
        }
    }
}

/// The webhook secret key: configured, or kept in a file under the data dir.
fn webhook_key(
    config: &NotificationsConfig,
    data_dir: &std::path::Path,
) -> Result<SecretKey, String> {
    let text = kit::keys::configured_or_file(
        config.webhook_secret_key.as_ref(),
        "notifications.webhook_secret_key",
        data_dir,
        "notifications-webhook.key",
    )?;
    SecretKey::from_base64(&text).map_err(|error| format!("notifications webhook key: {error}"))
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let config: NotificationsConfig = context.section()?;
    let from: lettre::message::Mailbox = config
        .mail_from
        .parse()
        .map_err(|error| format!("notifications.mail_from: {error}"))?;
    let mailer = mail::Mailer::new(
        config.smtp_url.as_ref().map(mesh::config::Secret::expose),
        context.config().data_dir.join("mail"),
    )?;
    let hub = api::stream::Hub::default();
    let store: Arc<dyn store::NotificationsStore> =
        Arc::new(SqlNotificationsStore(context.storage()));
    let api = Arc::new(NotificationsApi::new(
        store.clone(),
        hub.clone(),
        config.clone(),
    ));
    let limit = context.max_message_bytes();
    let bus = context.bus();
    let key = Arc::new(webhook_key(&config, &context.config().data_dir)?);
    let sender = webhooks::Sender::new(webhooks::Guard::new(
        config.webhook_allowed_networks.clone(),
    ))?;
    let sql = Arc::new(SqlNotificationsStore(context.storage()));
    let webhooks_api = WebhooksApi::new(
        sql.clone(),
        sender.clone(),
        key.clone(),
        Arc::new(projects::ProjectsClient::new(context.peer("projects")?)),
    );
    let deliverer = webhooks::Deliverer {
        store: sql,
        sender,
        key,
        delays: Arc::new(
            config
                .webhook_retry_delays_ms
                .iter()
                .map(|millis| std::time::Duration::from_millis(*millis))
                .collect(),
        ),
    };
    let mut built = Built::new(
        NotificationServiceServer::from_arc(api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .also(
        WebhookServiceServer::new(webhooks_api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .worker("webhook-deliverer", move |shutdown| deliverer.run(shutdown))
    .worker("notification-feed-follower", {
        let bus = bus.clone();
        move |shutdown| api::stream::follow(bus, hub, shutdown)
    })
    .worker("mail-sender", {
        let store = store.clone();
        move |shutdown| mail::run(store, mailer, from, shutdown)
    })
    .worker("due-reminders", {
        let config = config.clone();
        move |shutdown| reminders(store, config, shutdown)
    });
    // One durable consumer per source service (a consumer reads one service's stream);
    // each fills inboxes and queues webhook deliveries in the same transaction.
    for (name, subject) in [
        ("notifications-projects", PROJECTS_EVENTS),
        ("notifications-tenancy", TENANCY_EVENTS),
        ("notifications-identity", IDENTITY_EVENTS),
        ("notifications-documents", DOCUMENTS_EVENTS),
        ("notifications-links", LINKS_EVENTS),
        ("notifications-self", NOTIFICATIONS_EVENTS),
    ] {
        let handler = Arc::new(InboxAndWebhooks(InboxHandler {
            app_url: config.app_url.clone(),
        }));
        built = built.consumer(&context, name, subject, handler);
    }
    Ok(built)
}
