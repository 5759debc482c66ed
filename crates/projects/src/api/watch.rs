//! WatchBoard: live boards.
//!
//! Every change to a board appends to the board's feed in the transaction of the change
//! (`Op::Feed`: gapless positions in commit order), and publishes `board.changed`. A stream
//! sends a snapshot (or replays the feed after a resume token), then follows the feed: it
//! sleeps on the board's [`Hub`] entry, which is woken after a local commit and, for commits
//! on other replicas, by the `board.changed` events ([`follow`]). So every replica serves
//! every board, and a reconnect resumes exactly where the last message left off.
//!
//! Invariants: messages are sent in feed order, each with the token of its position; a
//! stream holds at most [`QUEUE`] undelivered messages and ends with ABORTED
//! `WATCH_OVERRUN` instead of blocking anyone; access is checked again when a board, project
//! or membership goes in this process and at least every [`ACCESS_RECHECK`] while changes
//! flow (or at each heartbeat), so a removed member's stream ends with NOT_FOUND. A change is
//! read from the feed once per board and wake for all of its streams here ([`BoardEntry`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::Bus;
use futures::{Stream, StreamExt};
use mesh::ids::UserId;
use mesh::server::Shutdown;
use mesh::time::{now_millis, timestamp};
use prost::{Message, Name};
use taskmesh::events::v1::BoardChanged;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tokio::sync::mpsc;
use tonic::{Request, Status};

use super::boards::readable_board;
use super::convert;
use super::watch_feed::{BATCH, BoardEntry};
use super::{Caller, ProjectsApi, Result, parse_id};
use crate::domain::{BoardId, ProjectsError};

/// How long a stream follows a board's changes before checking the caller may still read it
/// (plus up to as much again, at random per stream).
const ACCESS_RECHECK: Duration = Duration::from_secs(2);
/// Most undelivered messages per stream.
pub const QUEUE: usize = 1_000;
/// Most tasks per snapshot chunk (small, so what a stream holds after its snapshot turn
/// ends, one chunk, is small).
pub(super) const CHUNK_TASKS: usize = 100;
/// Most bytes per snapshot chunk.
const CHUNK_BYTES: usize = 1_048_576;

/// The wake-up points of the boards this process watches.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Mutex<HubState>>,
    /// Snapshots being read at once: a reconnect storm queues here instead of exhausting the
    /// database pool (which would fail every stream with UNAVAILABLE).
    snapshots: Arc<tokio::sync::Semaphore>,
    /// Bumped when a board, a project or a membership goes: streams re-check access at once.
    access_changes: Arc<std::sync::atomic::AtomicU64>,
    /// Open streams per user.
    streams: kit::live::StreamCounts,
}

/// Snapshots read at once per process.
const CONCURRENT_SNAPSHOTS: usize = 4;

impl Default for Hub {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            snapshots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SNAPSHOTS)),
            access_changes: Arc::default(),
            streams: kit::live::StreamCounts::default(),
        }
    }
}

#[derive(Default)]
struct HubState {
    boards: HashMap<BoardId, Arc<BoardEntry>>,
    draining: bool,
}

impl Hub {
    /// Snapshot turns not taken.
    #[cfg(test)]
    pub(super) fn snapshot_turns_free(&self) -> usize {
        self.snapshots.available_permits()
    }

    pub(super) fn entry(&self, board: BoardId) -> Arc<BoardEntry> {
        let mut state = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        state.boards.entry(board).or_default().clone()
    }

    /// Wakes the streams of `board`.
    pub fn notify(&self, board: BoardId) {
        let notify = {
            let state = self
                .inner
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            state.boards.get(&board).cloned()
        };
        if let Some(entry) = notify {
            entry.wake();
        }
    }

    /// Wakes the streams of a deleted board (they find it gone and end).
    pub fn close_board(&self, board: BoardId) {
        self.bump_access_changes();
        self.notify(board);
    }

    /// Wakes every stream (a project was deleted: its boards' streams find out and end).
    pub fn close_project(&self, _project: crate::domain::ProjectId) {
        self.access_changed();
    }

    /// Someone may have lost access (e.g. left a project): every stream re-checks now.
    pub fn access_changed(&self) {
        self.bump_access_changes();
        self.wake_all();
    }

    fn bump_access_changes(&self) {
        self.access_changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn access_changes(&self) -> u64 {
        self.access_changes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn wake_all(&self) {
        let all: Vec<Arc<BoardEntry>> = {
            let state = self
                .inner
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            state.boards.values().cloned().collect()
        };
        for entry in all {
            entry.wake();
        }
    }

    /// Ends every stream with UNAVAILABLE (the server is shutting down).
    pub fn drain(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .draining = true;
        self.wake_all();
    }

    pub(super) fn draining(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .draining
    }

    /// Counts a stream of `user`; `None` beyond `limit`.
    fn open(&self, user: UserId, limit: usize) -> Option<kit::live::StreamGuard> {
        self.streams.open(user, limit)
    }
}

/// Follows `board.changed` events from other replicas into `hub` until `shutdown`; then ends
/// every stream.
pub async fn follow(bus: Arc<dyn Bus>, hub: Hub, shutdown: Shutdown) {
    let subject = crate::events::BOARD_CHANGED.subject();
    kit::live::follow(bus, "board-feed", subject, shutdown, |event| {
        if event.payload_type == BoardChanged::full_name()
            && let Ok(changed) = BoardChanged::decode(event.payload.as_slice())
            && let Ok(board) = changed.board_id.parse()
        {
            hub.notify(board);
        }
    })
    .await;
    hub.drain();
}

fn token(board: BoardId, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{board}:{seq}"))
}

fn parse_token(board: BoardId, text: &str) -> Result<i64> {
    let decoded = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(ProjectsError::ResumeTokenInvalid)?;
    let (named, seq) = decoded
        .split_once(':')
        .ok_or(ProjectsError::ResumeTokenInvalid)?;
    if named != board.to_string() {
        return Err(ProjectsError::ResumeTokenInvalid);
    }
    seq.parse().map_err(|_| ProjectsError::ResumeTokenInvalid)
}

/// The response stream of WatchBoard.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = std::result::Result<WatchBoardResponse, Status>> + Send>>;

/// Where a stream starts.
enum Start {
    Snapshot,
    After(i64),
}

pub(super) async fn watch(
    api: Arc<ProjectsApi>,
    request: Request<WatchBoardRequest>,
) -> Result<WatchStream> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let board_id: BoardId = parse_id("board_id", &message.board_id)?;
    readable_board(&api, &caller, board_id).await?;
    let start = if message.resume_token.is_empty() {
        Start::Snapshot
    } else {
        let seq = parse_token(board_id, &message.resume_token)?;
        let (head, oldest) = api
            .store
            .feed_head(caller.organization_id, board_id)
            .await?;
        if seq > head || seq < 0 {
            return Err(ProjectsError::ResumeTokenInvalid);
        }
        // Replay when every position after `seq` is still kept; else a fresh snapshot.
        if seq == head || oldest.is_some_and(|oldest| oldest <= seq + 1) {
            Start::After(seq)
        } else {
            Start::Snapshot
        }
    };
    let guard = api
        .hub
        .open(caller.user_id, api.config.max_streams_per_user)
        .ok_or(ProjectsError::StreamLimitReached)?;
    let (sender, receiver) = mpsc::channel(QUEUE + 1);
    tokio::spawn(async move {
        let _guard = guard;
        let outcome = pump(&api, &caller, board_id, start, &sender).await;
        if let Err(error) = outcome {
            let _ = sender
                .send((Err(mesh::ServiceError::from(error).into_status()), None))
                .await;
        }
    });
    // A snapshot turn travels with the snapshot's last chunk and ends when the response takes
    // that chunk from the queue: until then the client is still reading the snapshot.
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver).map(|(item, _turn)| item);
    Ok(Box::pin(stream))
}

/// A queued message, and the snapshot turn that ends when it is taken.
type Queued = (
    std::result::Result<WatchBoardResponse, Status>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

pub(super) type Sender = mpsc::Sender<Queued>;

/// Queues a message; `Ok(false)` when the client is gone; overrun when the queue is full.
pub(super) async fn send(sender: &Sender, message: WatchBoardResponse) -> Result<bool> {
    send_holding(sender, message, None).await
}

/// [`send`], keeping `turn` until the message is taken from the queue.
async fn send_holding(
    sender: &Sender,
    message: WatchBoardResponse,
    turn: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<bool> {
    if sender.is_closed() {
        return Ok(false);
    }
    // The last slot is kept for the overrun status.
    if sender.capacity() <= 1 {
        return Err(ProjectsError::WatchOverrun);
    }
    Ok(sender.send((Ok(message), turn)).await.is_ok())
}

fn heartbeat(board: BoardId, seq: i64) -> WatchBoardResponse {
    let now = timestamp(now_millis());
    WatchBoardResponse {
        resume_token: token(board, seq),
        event_time: Some(now),
        actor_user_id: String::new(),
        event: Some(WatchEvent::Heartbeat(Heartbeat {
            server_time: Some(now),
        })),
    }
}

/// [`snapshot`], when one of the process's snapshot turns is free. The turn lasts until the
/// client has taken the whole snapshot, so at most a few snapshots wait in memory for slow
/// readers (1,000 watchers opening at once each held a 1,000-task snapshot: 370 MiB).
async fn snapshot_in_turn(
    api: &ProjectsApi,
    caller: &Caller,
    board_id: BoardId,
    sender: &Sender,
) -> Result<Option<i64>> {
    let turn = Arc::clone(&api.hub.snapshots)
        .acquire_owned()
        .await
        // The semaphore is never closed; were it, that would be a bug, not the caller's.
        .map_err(|error| mesh::ServiceError::internal(crate::domain::DOMAIN, &error))?;
    snapshot(api, caller, board_id, sender, turn).await
}

/// Sends the board's snapshot; returns the feed position it reflects.
async fn snapshot(
    api: &ProjectsApi,
    caller: &Caller,
    board_id: BoardId,
    sender: &Sender,
    turn: tokio::sync::OwnedSemaphorePermit,
) -> Result<Option<i64>> {
    let org = caller.organization_id;
    let (head, _) = api.store.feed_head(org, board_id).await?;
    let (board, columns) = api
        .store
        .board(org, board_id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    let total: i64 = columns.iter().map(|column| column.task_count).sum();
    let mut chunk = BoardSnapshot {
        board: Some(convert::board(&board, &columns)),
        tasks: Vec::new(),
        complete: false,
        total_task_count: total,
    };
    let mut after: Option<(i64, String, String)> = None;
    loop {
        let tasks = api
            .store
            .board_tasks(org, board_id, after.clone(), CHUNK_TASKS as i64)
            .await?;
        let last_page = tasks.len() < CHUNK_TASKS;
        if let Some(last) = tasks.last() {
            after = Some((last.column_position, last.rank.clone(), last.id.to_string()));
        }
        for task in tasks {
            let task = convert::task(&task, false);
            if chunk.tasks.len() >= CHUNK_TASKS
                || chunk.encoded_len() + task.encoded_len() + 64 > CHUNK_BYTES
            {
                let full = std::mem::take(&mut chunk.tasks);
                let message = WatchBoardResponse {
                    resume_token: String::new(),
                    event_time: Some(timestamp(now_millis())),
                    actor_user_id: String::new(),
                    event: Some(WatchEvent::Snapshot(BoardSnapshot {
                        tasks: full,
                        ..chunk.clone()
                    })),
                };
                if !send(sender, message).await? {
                    return Ok(None);
                }
                chunk.board = None;
                chunk.total_task_count = 0;
            }
            chunk.tasks.push(task);
        }
        if last_page {
            break;
        }
    }
    chunk.complete = true;
    let message = WatchBoardResponse {
        resume_token: token(board_id, head),
        event_time: Some(timestamp(now_millis())),
        actor_user_id: String::new(),
        event: Some(WatchEvent::Snapshot(chunk)),
    };
    Ok(send_holding(sender, message, Some(turn))
        .await?
        .then_some(head))
}

async fn pump(
    api: &ProjectsApi,
    caller: &Caller,
    board_id: BoardId,
    start: Start,
    sender: &Sender,
) -> Result<()> {
    let org = caller.organization_id;
    let board = api.hub.entry(board_id);
    let interval = Duration::from_secs(api.config.watch_heartbeat_secs.max(1));
    let mut position = match start {
        Start::After(seq) => seq,
        Start::Snapshot => match snapshot_in_turn(api, caller, board_id, sender).await? {
            Some(head) => head,
            None => return Ok(()),
        },
    };
    // The stream ends when the token it was opened with does (the client refreshes and resumes).
    let expired = mesh::auth::credential_expired(caller.expires_at);
    tokio::pin!(expired);
    let mut checked = std::time::Instant::now();
    // Spread over streams, so a thousand watchers opened together do not re-check together.
    let recheck = ACCESS_RECHECK + ACCESS_RECHECK.mul_f64(rand::random::<f64>());
    let mut access_changes = api.hub.access_changes();
    loop {
        // Registered before reading, so a commit between the read and the wait still wakes.
        let woken = board.notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let generation = board.generation();
        loop {
            let entries = board.read(api, org, board_id, position, generation).await?;
            let fetched = entries.len() as i64;
            for entry in entries {
                position = entry.seq;
                let Ok(mut message) = WatchBoardResponse::decode(entry.payload.as_slice()) else {
                    continue;
                };
                message.resume_token = token(board_id, entry.seq);
                if !send(sender, message).await? {
                    return Ok(());
                }
            }
            if fetched < BATCH {
                break;
            }
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(interval) => {
                if !send(sender, heartbeat(board_id, position)).await? {
                    return Ok(());
                }
            }
            () = sender.closed() => return Ok(()),
            () = &mut expired => return Err(mesh::auth::token_expired().into()),
        }
        if api.hub.draining() {
            return Err(ProjectsError::Service(mesh::ServiceError::new(
                mesh::ErrorCode::Unavailable,
                crate::domain::DOMAIN,
                "SERVER_DRAINING",
                "the server is shutting down; resume with the last resume_token",
            )));
        }
        // Still there, still readable (a removed member or a deleted board ends here): checked
        // when access may have changed here, else every `recheck`, so a busy board's watchers
        // do not each re-read the board and project on every change.
        let changes = api.hub.access_changes();
        if changes != access_changes || checked.elapsed() >= recheck {
            still_readable(api, caller, board_id).await?;
            checked = std::time::Instant::now();
            access_changes = changes;
        }
    }
}

/// The board still exists and the caller may still read its project: a few indexed reads
/// ([`readable_board`] also reads the columns and counts their tasks).
async fn still_readable(api: &ProjectsApi, caller: &Caller, board_id: BoardId) -> Result<()> {
    let project = api
        .store
        .board_project(caller.organization_id, board_id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    api.access(caller, project)
        .await
        .map(|_| ())
        .map_err(|error| match error {
            ProjectsError::ProjectNotFound => ProjectsError::BoardNotFound,
            other => other,
        })
}
