//! The NATS JetStream bus (async-nats).
//!
//! One stream per `<namespace>.<service>` (`taskmesh.projects` → stream `TASKMESH_PROJECTS`,
//! subjects `taskmesh.projects.>`), created on first use, file storage, a 2-minute
//! duplicate window. Publishes carry `Nats-Msg-Id` = event id and wait for the `PubAck`
//! (a duplicate ack is a success); a timed-out publish returns `Unavailable` and the relay
//! retries with the same id, which the broker deduplicates. Consumers are durable pull
//! consumers with explicit ack; redelivery and dead-lettering are driven by the
//! [`crate::consumer::Consumer`] through nak/ack.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_nats::jetstream::{self, AckKind, Context};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::bus::{
    Acker, Bus, BusError, ConsumerConfig, Delivery, EventMessage, Subscription, stream_of,
};

/// Header carrying the event's tenant beside the payload.
const TENANT_HEADER: &str = "Taskmesh-Tenant-Id";

/// A bus over NATS JetStream.
#[derive(Clone)]
pub struct JetStreamBus {
    context: Context,
    known_streams: Arc<Mutex<HashSet<String>>>,
    publish_timeout: Duration,
    /// Follows the client's connection events (for readiness, and for waiting on a
    /// reconnect instead of guessing how long it takes).
    connected: tokio::sync::watch::Receiver<bool>,
    /// The broker-side namespace of `taskmesh.*` subjects (`None`: `taskmesh` itself).
    namespace: Option<Arc<str>>,
}

/// The namespace services name their subjects in.
const SERVICE_NAMESPACE: &str = "taskmesh";

impl JetStreamBus {
    /// Connects to `url`. The client reconnects by itself; while disconnected, publishes
    /// fail with `Unavailable` after `publish_timeout` and the outbox keeps the events.
    pub async fn connect(url: &str, publish_timeout: Duration) -> Result<Self, BusError> {
        let (state, connected) = tokio::sync::watch::channel(false);
        let state = Arc::new(state);
        let events = state.clone();
        let client = async_nats::ConnectOptions::new()
            .name("taskmesh")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(publish_timeout))
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            events.send_replace(true);
                        }
                        async_nats::Event::Disconnected | async_nats::Event::Closed => {
                            events.send_replace(false);
                        }
                        _ => {}
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        if client.connection_state() == async_nats::connection::State::Connected {
            state.send_replace(true);
        }
        let mut context = jetstream::new(client);
        context.set_timeout(publish_timeout);
        Ok(Self {
            context,
            known_streams: Arc::new(Mutex::new(HashSet::new())),
            publish_timeout,
            connected,
            namespace: None,
        })
    }

    /// Keeps `taskmesh.*` subjects under `namespace` on the broker (and gives them back as
    /// `taskmesh.*`), so several meshes (or test runs) can share one NATS server without
    /// seeing each other's events. `taskmesh` (the default) changes nothing.
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = (namespace != SERVICE_NAMESPACE).then(|| Arc::from(namespace));
        self
    }

    /// A service subject as the broker knows it.
    fn outward(&self, subject: &str) -> String {
        match (&self.namespace, subject.strip_prefix(SERVICE_NAMESPACE)) {
            (Some(namespace), Some(rest)) if rest.starts_with('.') => format!("{namespace}{rest}"),
            _ => subject.to_string(),
        }
    }

    /// A broker subject as services know it.
    fn inward(namespace: Option<&str>, subject: &str) -> String {
        match namespace.and_then(|namespace| subject.strip_prefix(namespace)) {
            Some(rest) if rest.starts_with('.') => format!("{SERVICE_NAMESPACE}{rest}"),
            _ => subject.to_string(),
        }
    }

    /// True while the client holds a connection to the server.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Resolves once the client is connected (at once if it is).
    pub async fn wait_connected(&self) {
        let mut connected = self.connected.clone();
        let _ = connected.wait_for(|connected| *connected).await;
    }

    /// The JetStream stream name for a subject's `<namespace>.<service>`.
    pub fn stream_name(subject: &str) -> String {
        stream_of(subject)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    async fn ensure_stream(&self, subject: &str) -> Result<jetstream::stream::Stream, BusError> {
        let prefix = stream_of(subject);
        if prefix.split('.').count() != 2 {
            return Err(BusError::Invalid(format!(
                "subject {subject:?} has no service part"
            )));
        }
        let name = Self::stream_name(subject);
        let stream = self
            .context
            .get_or_create_stream(StreamConfig {
                name: name.clone(),
                subjects: vec![format!("{prefix}.>")],
                storage: StorageType::File,
                duplicate_window: Duration::from_secs(120),
                max_age: Duration::from_secs(7 * 24 * 3_600),
                ..Default::default()
            })
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        self.known_streams.lock().await.insert(name);
        Ok(stream)
    }

    /// Waits until the durable consumer `name` of the stream holding `subject` has been
    /// handed and has acknowledged every message (`num_pending == 0 && num_ack_pending ==
    /// 0`). It re-reads the consumer's state when an ack of that consumer passes through the
    /// broker (a core subscription to its `$JS.ACK.<stream>.<consumer>.>` subjects), and at
    /// most every 250 ms in case the broker updated its state after relaying the ack. For
    /// tests and diagnostics; wrap it in a timeout.
    pub async fn settled(&self, subject: &str, name: &str) -> Result<(), BusError> {
        let unavailable = |error: &dyn std::fmt::Display| BusError::Unavailable(error.to_string());
        let outward = self.outward(subject);
        let stream = self.ensure_stream(&outward).await?;
        let mut acks = self
            .context
            .client()
            .subscribe(format!("$JS.ACK.{}.{name}.>", Self::stream_name(&outward)))
            .await
            .map_err(|error| unavailable(&error))?;
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_consumer(name)
            .await
            .map_err(|error| unavailable(&error))?;
        loop {
            let info = consumer.info().await.map_err(|error| unavailable(&error))?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return Ok(());
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), acks.next()).await;
        }
    }

    /// Deletes the streams this bus created (tests clean up with this).
    pub async fn delete_streams(&self) -> Result<(), BusError> {
        let names: Vec<String> = self.known_streams.lock().await.drain().collect();
        for name in names {
            match self.context.delete_stream(&name).await {
                Ok(_) => {}
                // Another handle deleted it first: that is the goal.
                Err(error)
                    if matches!(
                        error.kind(),
                        async_nats::jetstream::context::DeleteStreamErrorKind::JetStream(ref inner)
                            if inner.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
                    ) => {}
                Err(error) => return Err(BusError::Unavailable(error.to_string())),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Bus for JetStreamBus {
    async fn publish(&self, message: &EventMessage) -> Result<(), BusError> {
        let subject = self.outward(&message.subject);
        let name = Self::stream_name(&subject);
        if !self.known_streams.lock().await.contains(&name) {
            self.ensure_stream(&subject).await?;
        }
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.id.to_string().as_str());
        if let Some(tenant) = message.tenant_id {
            headers.insert(TENANT_HEADER, tenant.to_string().as_str());
        }
        let ack = tokio::time::timeout(self.publish_timeout, async {
            self.context
                .publish_with_headers(subject.clone(), headers, message.payload.clone())
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))?
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))
        })
        .await
        .map_err(|_| BusError::Unavailable("publish acknowledgement timed out".into()))??;
        // `ack.duplicate` means the broker already had this id: still a success.
        let _ = ack.duplicate;
        Ok(())
    }

    async fn subscribe(&self, config: &ConsumerConfig) -> Result<Box<dyn Subscription>, BusError> {
        let filters: Vec<String> = config
            .filter_subjects
            .iter()
            .map(|filter| self.outward(filter))
            .collect();
        let first = filters
            .first()
            .ok_or_else(|| BusError::Invalid("consumer needs a filter".into()))?;
        if filters.iter().any(|f| stream_of(f) != stream_of(first)) {
            return Err(BusError::Invalid(
                "all filters of a consumer must be in one stream".into(),
            ));
        }
        if config.name.is_empty()
            || !config
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(BusError::Invalid(format!(
                "invalid consumer name {:?}",
                config.name
            )));
        }
        let stream = self.ensure_stream(first).await?;
        // NATS before 2.10 ignores `filter_subjects` (and would deliver the whole stream),
        // so a single filter goes in `filter_subject`, which every 2.x server honours.
        let (filter_subject, filter_subjects) = match filters.as_slice() {
            [only] => (only.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        let deliver_policy = match config.start {
            crate::bus::StartAt::Beginning => DeliverPolicy::All,
            crate::bus::StartAt::Since(time) => DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from(time),
            },
        };
        let settings = pull::Config {
            durable_name: (!config.ephemeral).then(|| config.name.clone()),
            name: Some(config.name.clone()),
            filter_subject,
            filter_subjects,
            ack_policy: AckPolicy::Explicit,
            deliver_policy,
            ack_wait: config.ack_wait,
            // The consumer runner decides when to give up (dead letter), so the broker
            // never drops a message on its own.
            max_deliver: -1,
            // An ephemeral consumer is deleted a minute after its process stopped pulling.
            inactive_threshold: if config.ephemeral {
                Duration::from_secs(60)
            } else {
                Duration::ZERO
            },
            ..Default::default()
        };
        let mut consumer = stream
            .get_or_create_consumer(&config.name, settings)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        let info = consumer
            .info()
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        let mut applied = info.config.filter_subjects.clone();
        if !info.config.filter_subject.is_empty() {
            applied.push(info.config.filter_subject.clone());
        }
        applied.sort();
        let mut requested = filters.clone();
        requested.sort();
        if applied != requested {
            return Err(BusError::Invalid(format!(
                "the server applied filters {applied:?} instead of {requested:?} (multiple filters need NATS 2.10+)"
            )));
        }
        let messages = consumer
            .messages()
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        Ok(Box::new(JetStreamSubscription {
            messages,
            namespace: self.namespace.clone(),
        }))
    }
}

struct JetStreamSubscription {
    messages: pull::Stream,
    namespace: Option<Arc<str>>,
}

#[async_trait::async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let message = match self.messages.next().await {
                Some(Ok(message)) => message,
                Some(Err(error)) => return Err(BusError::Unavailable(error.to_string())),
                None => return Err(BusError::Closed),
            };
            let attempt = message
                .info()
                .map(|info| info.delivered)
                .unwrap_or(1)
                .max(1) as u32;
            let id = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get("Nats-Msg-Id"))
                .and_then(|value| value.as_str().parse().ok());
            let Some(id) = id else {
                // Not published by a taskmesh relay: nothing can process it; drop it.
                tracing::warn!(subject = %message.subject, "message without Nats-Msg-Id; terminating");
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            };
            let tenant_id = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(TENANT_HEADER))
                .and_then(|value| value.as_str().parse().ok());
            let event = EventMessage {
                id,
                subject: JetStreamBus::inward(self.namespace.as_deref(), &message.subject),
                tenant_id,
                payload: Bytes::copy_from_slice(&message.payload),
            };
            return Ok(Delivery::new(
                event,
                attempt,
                Box::new(JetStreamAcker { message }),
            ));
        }
    }
}

struct JetStreamAcker {
    message: jetstream::Message,
}

#[async_trait::async_trait]
impl Acker for JetStreamAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.message
            .double_ack()
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }
}
