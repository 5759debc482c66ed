//! The in-process bus: the same contract as JetStream (durable consumers with their own
//! progress, explicit ack, redelivery after nak or ack-wait, deduplication by id) inside one
//! process, for all-in-one mode and tests.
//!
//! The log keeps messages until every consumer has acknowledged past them, capped at
//! `retention` messages (oldest dropped first), like a JetStream limits-based stream.
//! A consumer that is created after messages were published starts at the oldest retained
//! message (deliver-all), as a new JetStream durable consumer would.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::bus::{
    Acker, Bus, BusError, ConsumerConfig, Delivery, EventMessage, Subscription, subject_matches,
};

/// The in-process bus. Cheap to clone; clones share the log.
#[derive(Clone)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    notify: Notify,
    /// Woken on every ack (only [`InProcessBus::settled`] waits on it).
    acked: Notify,
    retention: usize,
}

#[derive(Default)]
struct State {
    /// sequence → message.
    log: BTreeMap<u64, EventMessage>,
    next_sequence: u64,
    /// Ids seen recently, for deduplication (bounded like the log).
    /// Keyed by (stream, id): like JetStream, deduplication is per stream, so a dead letter
    /// keeps its original id.
    seen: HashSet<(String, mesh::ids::EventId)>,
    seen_order: VecDeque<(String, mesh::ids::EventId)>,
    consumers: HashMap<String, ConsumerState>,
}

struct ConsumerState {
    filters: Vec<String>,
    ack_wait: Duration,
    /// Next sequence not yet handed out.
    cursor: u64,
    /// Handed out, not yet acked: sequence → (attempt, redeliver at).
    pending: BTreeMap<u64, (u32, Instant)>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl InProcessBus {
    /// A bus retaining at most `retention` messages.
    pub fn new(retention: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    next_sequence: 1,
                    ..State::default()
                }),
                notify: Notify::new(),
                acked: Notify::new(),
                retention: retention.max(1),
            }),
        }
    }

    /// Every retained message published on a subject matching `filter`, oldest first
    /// (for tests and diagnostics).
    pub fn messages(&self, filter: &str) -> Vec<EventMessage> {
        let state = self.shared.state.lock().expect("bus lock");
        state
            .log
            .values()
            .filter(|m| subject_matches(filter, &m.subject))
            .cloned()
            .collect()
    }

    /// Waits until the consumer `name` exists and has acknowledged every retained message
    /// its filters match (JetStream's `num_pending == 0 && num_ack_pending == 0`): after it
    /// returns, everything published before the call has been applied by that consumer.
    pub async fn settled(&self, name: &str) {
        loop {
            let acked = self.shared.acked.notified();
            tokio::pin!(acked);
            acked.as_mut().enable();
            let published = self.shared.notify.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            if self.is_settled(name) {
                return;
            }
            tokio::select! {
                () = acked => {}
                () = published => {}
            }
        }
    }

    fn is_settled(&self, name: &str) -> bool {
        let state = self.shared.state.lock().expect("bus lock");
        let Some(consumer) = state.consumers.get(name) else {
            return false;
        };
        consumer.pending.is_empty()
            && state.log.range(consumer.cursor..).all(|(_, message)| {
                !consumer
                    .filters
                    .iter()
                    .any(|filter| subject_matches(filter, &message.subject))
            })
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, message: &EventMessage) -> Result<(), BusError> {
        {
            let mut state = self.shared.state.lock().expect("bus lock");
            let key = (
                crate::bus::stream_of(&message.subject).to_string(),
                message.id,
            );
            if !state.seen.insert(key.clone()) {
                return Ok(());
            }
            state.seen_order.push_back(key);
            if state.seen_order.len() > self.shared.retention
                && let Some(old) = state.seen_order.pop_front()
            {
                state.seen.remove(&old);
            }
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            state.log.insert(sequence, message.clone());
            while state.log.len() > self.shared.retention {
                state.log.pop_first();
            }
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, config: &ConsumerConfig) -> Result<Box<dyn Subscription>, BusError> {
        if config.name.is_empty() || config.filter_subjects.is_empty() {
            return Err(BusError::Invalid(
                "consumer needs a name and a filter".into(),
            ));
        }
        let mut state = self.shared.state.lock().expect("bus lock");
        let first = state
            .log
            .keys()
            .next()
            .copied()
            .unwrap_or(state.next_sequence);
        state
            .consumers
            .entry(config.name.clone())
            .or_insert_with(|| ConsumerState {
                filters: config.filter_subjects.clone(),
                ack_wait: config.ack_wait,
                cursor: first,
                pending: BTreeMap::new(),
            });
        Ok(Box::new(InProcessSubscription {
            shared: self.shared.clone(),
            name: config.name.clone(),
            ephemeral: config.ephemeral,
        }))
    }
}

struct InProcessSubscription {
    shared: Arc<Shared>,
    name: String,
    ephemeral: bool,
}

impl Drop for InProcessSubscription {
    fn drop(&mut self) {
        if self.ephemeral
            && let Ok(mut state) = self.shared.state.lock()
        {
            state.consumers.remove(&self.name);
        }
    }
}

impl InProcessSubscription {
    /// The next due delivery, or when to look again.
    fn poll(&self) -> Result<Result<Delivery, Option<Instant>>, BusError> {
        let mut guard = self.shared.state.lock().expect("bus lock");
        let state = &mut *guard;
        let consumer = state
            .consumers
            .get_mut(&self.name)
            .ok_or(BusError::Closed)?;
        let now = Instant::now();
        // Redeliveries first (nak'ed or ack-wait expired), oldest sequence first.
        let due = consumer
            .pending
            .iter()
            .find(|(_, (_, at))| *at <= now)
            .map(|(s, (a, _))| (*s, *a));
        if let Some((sequence, attempt)) = due {
            match state.log.get(&sequence) {
                Some(message) => {
                    let attempt = attempt + 1;
                    consumer
                        .pending
                        .insert(sequence, (attempt, now + consumer.ack_wait));
                    return Ok(Ok(self.delivery(message.clone(), sequence, attempt)));
                }
                None => {
                    // Dropped by retention: nothing left to redeliver.
                    consumer.pending.remove(&sequence);
                }
            }
        }
        let cursor = consumer.cursor;
        let next = state
            .log
            .range(cursor..)
            .find(|(_, message)| {
                consumer
                    .filters
                    .iter()
                    .any(|f| subject_matches(f, &message.subject))
            })
            .map(|(sequence, message)| (*sequence, message.clone()));
        match next {
            Some((sequence, message)) => {
                consumer.cursor = sequence + 1;
                consumer
                    .pending
                    .insert(sequence, (1, now + consumer.ack_wait));
                Ok(Ok(self.delivery(message, sequence, 1)))
            }
            None => {
                consumer.cursor = state.next_sequence;
                Ok(Err(consumer.pending.values().map(|(_, at)| *at).min()))
            }
        }
    }

    fn delivery(&self, message: EventMessage, sequence: u64, attempt: u32) -> Delivery {
        let acker = InProcessAcker {
            shared: self.shared.clone(),
            name: self.name.clone(),
            sequence,
        };
        Delivery::new(message, attempt, Box::new(acker))
    }
}

#[async_trait::async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            // Register interest before checking, so a publish in between is not missed.
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.poll()? {
                Ok(delivery) => return Ok(delivery),
                Err(Some(at)) => {
                    let _ = tokio::time::timeout_at(at.into(), notified).await;
                }
                Err(None) => notified.await,
            }
        }
    }
}

struct InProcessAcker {
    shared: Arc<Shared>,
    name: String,
    sequence: u64,
}

#[async_trait::async_trait]
impl Acker for InProcessAcker {
    async fn ack(&self) -> Result<(), BusError> {
        let mut state = self.shared.state.lock().expect("bus lock");
        if let Some(consumer) = state.consumers.get_mut(&self.name) {
            consumer.pending.remove(&self.sequence);
        }
        drop(state);
        self.shared.acked.notify_waiters();
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        {
            let mut state = self.shared.state.lock().expect("bus lock");
            if let Some(consumer) = state.consumers.get_mut(&self.name)
                && let Some(entry) = consumer.pending.get_mut(&self.sequence)
            {
                entry.1 = Instant::now() + delay;
            }
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }
}
