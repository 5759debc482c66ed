//! What long-lived server streams (WatchBoard, StreamNotifications) share: a per-user cap on
//! open streams, and a follower that hears a topic's events from every replica.
//!
//! Invariants: a stream counts against its user from [`StreamCounts::open`] until its
//! [`StreamGuard`] drops, whatever way it ends; the follower's consumer is ephemeral and
//! starts at "now" (a process hears what happens while it runs; streams read the database for
//! anything older), and it re-subscribes when the bus fails, until shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::{Bus, ConsumerConfig, StartAt};
use mesh::ids::UserId;
use mesh::server::Shutdown;
use taskmesh::events::v1::Event;

/// Open streams per user in this process.
#[derive(Clone, Debug, Default)]
pub struct StreamCounts(Arc<Mutex<HashMap<UserId, usize>>>);

impl StreamCounts {
    /// Counts a stream of `user`; `None` when they already have `limit` open.
    pub fn open(&self, user: UserId, limit: usize) -> Option<StreamGuard> {
        let mut counts = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        let count = counts.entry(user).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(StreamGuard {
            counts: self.clone(),
            user,
        })
    }
}

/// One open stream; dropping it frees the user's slot.
#[derive(Debug)]
pub struct StreamGuard {
    counts: StreamCounts,
    user: UserId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

/// Calls `on_event` with every event on `subject` published from now until `shutdown`, from
/// any replica (an ephemeral consumer named `<name>-<unique>`).
pub async fn follow(
    bus: Arc<dyn Bus>,
    name: &str,
    subject: &str,
    shutdown: Shutdown,
    mut on_event: impl FnMut(&Event) + Send,
) {
    let config = ConsumerConfig {
        name: format!("{name}-{}", uuid::Uuid::now_v7().simple()),
        filter_subjects: vec![subject.to_string()],
        ack_wait: Duration::from_secs(30),
        ephemeral: true,
        start: StartAt::Since(std::time::SystemTime::now()),
    };
    loop {
        let mut subscription = tokio::select! {
            () = shutdown.wait() => return,
            subscribed = bus.subscribe(&config) => match subscribed {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::warn!(%error, subject, "cannot follow events yet; retrying");
                    tokio::select! {
                        () = shutdown.wait() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        loop {
            let delivery = tokio::select! {
                () = shutdown.wait() => return,
                delivery = subscription.next() => delivery,
            };
            let Ok(delivery) = delivery else {
                break;
            };
            if let Ok(event) = events::envelope::decode(&delivery.message) {
                on_event(&event);
            }
            let _ = delivery.ack().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_limit_streams_until_one_ends() {
        let counts = StreamCounts::default();
        let user = UserId::new();
        let first = counts.open(user, 2).unwrap();
        let _second = counts.open(user, 2).unwrap();
        assert!(counts.open(user, 2).is_none());
        assert!(counts.open(UserId::new(), 2).is_some(), "per user");
        drop(first);
        assert!(counts.open(user, 2).is_some());
    }
}
