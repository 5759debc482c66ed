//! StreamNotifications: the caller's unread count first, then the notifications created
//! after the resume token (replayed from the database), then new ones as they are created,
//! with the unread count again whenever it changes and a heartbeat when idle.
//!
//! Invariants: a stream reads the database for everything it sends, and is only woken by
//! events, so a wake that arrives while it reads is never lost (it registers for the next wake
//! before reading) and nothing is sent twice (it sends strictly after its position). Wakes
//! come from NotificationCreated events on the bus (so from every replica) and from reads and
//! archives in this process; a read on another replica shows at the next wake or heartbeat.
//! A stream ends when the credential it was opened with expires (UNAUTHENTICATED
//! `TOKEN_EXPIRED`), when its user leaves the organization (PERMISSION_DENIED
//! `MEMBERSHIP_REVOKED`, checked on every wake and heartbeat and woken by tenancy's
//! member.removed), or when the server drains (UNAVAILABLE `SERVER_SHUTTING_DOWN`).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::Bus;
use futures::Stream;
use mesh::ServiceError;
use mesh::error::ErrorCode;
use mesh::ids::{OrganizationId, UserId};
use mesh::server::Shutdown;
use mesh::time::{now_millis, timestamp};
use prost::{Message, Name};
use taskmesh::events::v1::{MemberAdded, MemberRemoved, NotificationCreated};
use taskmesh::notifications::v1::stream_notifications_response::Event as StreamEvent;
use taskmesh::notifications::v1::*;
use tokio::sync::{Notify, mpsc};
use tonic::Status;

use super::{Caller, NotificationsApi, Result, convert};
use crate::domain::{DOMAIN, NotificationsError};

/// Notifications read per database round.
const BATCH: i64 = 100;
/// Undelivered messages a stream may queue.
const QUEUE: usize = 256;
/// How long a resume token stays valid.
const TOKEN_LIFETIME_MILLIS: i64 = 24 * 3_600 * 1_000;

/// What the handler returns.
pub type NotificationStream =
    Pin<Box<dyn Stream<Item = std::result::Result<StreamNotificationsResponse, Status>> + Send>>;

type Inbox = (OrganizationId, UserId);

/// The wake-up points of this process's streams, per inbox.
#[derive(Clone, Default)]
pub struct Hub {
    wakers: Arc<Mutex<HashMap<Inbox, Arc<Notify>>>>,
    streams: kit::live::StreamCounts,
    /// Members this process saw leave (and not come back) since it started: their streams end
    /// at once, without waiting for the departures table, which another consumer fills.
    departed: Arc<Mutex<std::collections::HashSet<Inbox>>>,
    draining: Arc<AtomicBool>,
    drained: Arc<Notify>,
}

impl Hub {
    /// Wakes the streams of one inbox (a notification was created, read or archived).
    pub fn wake(&self, organization_id: OrganizationId, user_id: UserId) {
        let wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(waker) = wakers.get(&(organization_id, user_id)) {
            waker.notify_waiters();
        }
    }

    /// Ends every stream with UNAVAILABLE (the server is shutting down).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drained.notify_waiters();
        let wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for waker in wakers.values() {
            waker.notify_waiters();
        }
    }

    fn membership(&self, inbox: Inbox, member: bool) {
        let mut departed = self
            .departed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if member {
            departed.remove(&inbox);
        } else {
            departed.insert(inbox);
        }
    }

    fn has_departed(&self, inbox: Inbox) -> bool {
        self.departed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .contains(&inbox)
    }

    fn waker(&self, inbox: Inbox) -> Arc<Notify> {
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if wakers.len() > 1_024 {
            // Forget inboxes nobody streams any more.
            wakers.retain(|_, waker| Arc::strong_count(waker) > 1);
        }
        wakers.entry(inbox).or_default().clone()
    }
}

/// Wakes `hub`'s streams for every NotificationCreated on the bus, from any replica, until
/// `shutdown`; then ends every stream.
pub async fn follow(bus: Arc<dyn Bus>, hub: Hub, shutdown: Shutdown) {
    let subject = crate::events::NOTIFICATION_CREATED.subject();
    let created = kit::live::follow(
        bus.clone(),
        "notifications-feed",
        subject,
        shutdown.clone(),
        |event| {
            if event.payload_type == NotificationCreated::full_name()
                && let Ok(created) = NotificationCreated::decode(event.payload.as_slice())
                && let (Ok(organization), Ok(user)) =
                    (event.tenant_id.parse(), created.recipient_user_id.parse())
            {
                hub.wake(organization, user);
            }
        },
    );
    // Someone who leaves the organization: their streams end (and someone who comes back
    // may stream again).
    let departures = kit::live::follow(
        bus,
        "notifications-members",
        crate::store::sql_inbox::MEMBER_EVENTS,
        shutdown,
        |event| {
            let change = if event.payload_type == MemberRemoved::full_name() {
                MemberRemoved::decode(event.payload.as_slice())
                    .ok()
                    .map(|removed| (removed.organization_id, removed.user_id, false))
            } else if event.payload_type == MemberAdded::full_name() {
                MemberAdded::decode(event.payload.as_slice())
                    .ok()
                    .map(|added| (added.organization_id, added.user_id, true))
            } else {
                None
            };
            if let Some((organization, user, member)) = change
                && let (Ok(organization), Ok(user)) = (organization.parse(), user.parse())
            {
                hub.membership((organization, user), member);
                hub.wake(organization, user);
            }
        },
    );
    tokio::join!(created, departures);
    hub.drain();
}

fn membership_revoked() -> NotificationsError {
    stream_error(
        ErrorCode::PermissionDenied,
        "MEMBERSHIP_REVOKED",
        "you are no longer a member of this organization",
    )
}

fn stream_error(code: ErrorCode, reason: &str, message: &str) -> NotificationsError {
    NotificationsError::Service(ServiceError::new(code, DOMAIN, reason, message))
}

/// A position in the caller's inbox, as a resume token bound to the caller and dated.
fn token(caller: &Caller, position: &(i64, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}:{}:{}",
        caller.organization_id,
        caller.user_id,
        now_millis(),
        position.0,
        position.1
    ))
}

fn parse_token(caller: &Caller, text: &str) -> Result<(i64, String)> {
    let invalid = || {
        stream_error(
            ErrorCode::InvalidArgument,
            "RESUME_TOKEN_INVALID",
            "resume_token is not one this stream issued to you",
        )
    };
    let decoded = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let parts: Vec<&str> = decoded.splitn(5, ':').collect();
    let [organization, user, issued, created, id] = parts.as_slice() else {
        return Err(invalid());
    };
    if *organization != caller.organization_id.to_string() || *user != caller.user_id.to_string() {
        return Err(invalid());
    }
    let issued: i64 = issued.parse().map_err(|_| invalid())?;
    let created: i64 = created.parse().map_err(|_| invalid())?;
    if now_millis() - issued > TOKEN_LIFETIME_MILLIS {
        return Err(stream_error(
            ErrorCode::FailedPrecondition,
            "RESUME_TOKEN_EXPIRED",
            "resume_token is older than 24 hours; reload with ListNotifications and reconnect without one",
        ));
    }
    Ok((created, (*id).to_string()))
}

/// Opens the caller's stream: validates the token, counts the stream, and starts its pump.
pub(super) async fn open(
    api: &NotificationsApi,
    caller: Caller,
    resume_token: &str,
) -> Result<NotificationStream> {
    let position = match resume_token.trim() {
        "" => None,
        token => Some(parse_token(&caller, token)?),
    };
    let guard = api
        .hub
        .streams
        .open(caller.user_id, api.config.max_streams_per_user)
        .ok_or_else(|| {
            stream_error(
                ErrorCode::ResourceExhausted,
                "STREAM_LIMIT_REACHED",
                "too many open notification streams",
            )
        })?;
    let (sender, receiver) = mpsc::channel(QUEUE);
    let pump = Pump {
        store: api.store.clone(),
        hub: api.hub.clone(),
        caller,
        heartbeat: Duration::from_secs(api.config.stream_heartbeat_secs.max(1)),
        sender,
    };
    tokio::spawn(async move {
        let _guard = guard;
        if let Err(error) = pump.run(position).await {
            let status = ServiceError::from(error).into_status();
            let _ = pump.sender.send(Err(status)).await;
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
        receiver,
    )))
}

struct Pump {
    store: Arc<dyn crate::store::NotificationsStore>,
    hub: Hub,
    caller: Caller,
    heartbeat: Duration,
    sender: mpsc::Sender<std::result::Result<StreamNotificationsResponse, Status>>,
}

impl Pump {
    /// Queues a message; `false` when the client is gone.
    async fn send(&self, event: StreamEvent, position: &(i64, String)) -> bool {
        let message = StreamNotificationsResponse {
            event: Some(event),
            resume_token: token(&self.caller, position),
        };
        self.sender.send(Ok(message)).await.is_ok()
    }

    /// Whether the caller left the organization (seen here, or recorded by the consumer).
    async fn departed(&self) -> Result<bool> {
        let inbox = (self.caller.organization_id, self.caller.user_id);
        Ok(self.hub.has_departed(inbox) || self.store.departed(inbox.0, inbox.1).await?)
    }

    async fn run(&self, resume: Option<(i64, String)>) -> Result<()> {
        let Caller {
            organization_id,
            user_id,
            ..
        } = self.caller;
        let waker = self.hub.waker((organization_id, user_id));
        let expired = mesh::auth::credential_expired(self.caller.expires_at);
        tokio::pin!(expired);
        // Registered before the first read, so nothing created meanwhile is missed.
        let mut woken = Box::pin(waker.notified());
        woken.as_mut().enable();
        if self.departed().await? {
            return Err(membership_revoked());
        }
        let mut position = match resume {
            Some(position) => position,
            None => self.store.newest(organization_id, user_id).await?,
        };
        let mut unread = self.store.unread_count(organization_id, user_id).await?;
        let first = StreamEvent::UnreadCount(UnreadCount {
            unread_count: unread,
        });
        if !self.send(first, &position).await {
            return Ok(());
        }
        loop {
            loop {
                let batch = self
                    .store
                    .since(organization_id, user_id, &position, BATCH)
                    .await?;
                let complete = (batch.len() as i64) < BATCH;
                for record in batch {
                    position = (record.created_at, record.id.clone());
                    let event = StreamEvent::Notification(convert::notification(&record));
                    if !self.send(event, &position).await {
                        return Ok(());
                    }
                }
                if complete {
                    break;
                }
            }
            let now_unread = self.store.unread_count(organization_id, user_id).await?;
            if now_unread != unread {
                unread = now_unread;
                let event = StreamEvent::UnreadCount(UnreadCount {
                    unread_count: unread,
                });
                if !self.send(event, &position).await {
                    return Ok(());
                }
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(self.heartbeat) => {
                    let event = StreamEvent::Heartbeat(Heartbeat {
                        server_time: Some(timestamp(now_millis())),
                    });
                    if !self.send(event, &position).await {
                        return Ok(());
                    }
                }
                () = self.sender.closed() => return Ok(()),
                () = &mut expired => return Err(mesh::auth::token_expired().into()),
                () = self.hub.drained.notified() => {}
            }
            if self.departed().await? {
                return Err(membership_revoked());
            }
            if self.hub.draining.load(Ordering::SeqCst) {
                return Err(stream_error(
                    ErrorCode::Unavailable,
                    "SERVER_SHUTTING_DOWN",
                    "the server is shutting down; reconnect with the last resume_token",
                ));
            }
            woken = Box::pin(waker.notified());
            woken.as_mut().enable();
        }
    }
}
