//! WatchBoard called directly on a real SQLite store with a scripted organization directory:
//! resuming after a disconnect, tokens of other boards and of pruned history, the overrun
//! bound, and wake-ups arriving through the bus from other replicas.

use futures::StreamExt;
use taskmesh::projects::v1::board_service_server::BoardService;
use taskmesh::projects::v1::watch_board_response::Event;
use taskmesh::projects::v1::*;

use super::test_world::*;
use super::watch::{self, Hub, QUEUE};
use super::*;

async fn next(stream: &mut watch::WatchStream) -> WatchBoardResponse {
    tokio::time::timeout(HUNG, stream.next())
        .await
        .expect("watch stream hung")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_resumed_stream_replays_exactly_what_it_missed() {
    let world = World::new(600).await;
    let mut stream = world.watch("").await.unwrap();
    let snapshot = next(&mut stream).await;
    assert!(matches!(&snapshot.event, Some(Event::Snapshot(chunk)) if chunk.complete));
    world.task("First").await;
    let first = next(&mut stream).await;
    assert!(matches!(&first.event, Some(Event::TaskCreated(task)) if task.key == "LIVE-1"));
    drop(stream);

    // Changes while disconnected arrive on resume, in order, without a snapshot.
    world.task("Second").await;
    world.task("Third").await;
    let mut resumed = world.watch(&first.resume_token).await.unwrap();
    for key in ["LIVE-2", "LIVE-3"] {
        let message = next(&mut resumed).await;
        assert!(
            matches!(&message.event, Some(Event::TaskCreated(task)) if task.key == key),
            "{message:?}"
        );
    }
    // Resuming from the newest token sends nothing old.
    world.task("Fourth").await;
    let message = next(&mut resumed).await;
    assert!(matches!(&message.event, Some(Event::TaskCreated(task)) if task.key == "LIVE-4"));

    // A token of another board, or garbage, is refused.
    let board = BoardService::create_board(
        &world.api,
        world.request(CreateBoardRequest {
            board: Some(Board {
                project_id: world.project.id.clone(),
                name: "Other".into(),
                ..Board::default()
            }),
            request_id: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .board
    .unwrap();
    let other = BoardService::watch_board(
        &world.api,
        world.request(WatchBoardRequest {
            board_id: board.id,
            resume_token: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .next()
    .await
    .unwrap()
    .unwrap();
    for token in [other.resume_token.as_str(), "garbage"] {
        let status = world.watch(token).await.err().unwrap();
        assert_eq!(
            mesh::error::reason_of(&status).as_deref(),
            Some("RESUME_TOKEN_INVALID")
        );
    }
}

#[tokio::test]
async fn a_token_older_than_the_kept_history_gets_a_fresh_snapshot() {
    // Nothing is kept beyond the newest change.
    let world = World::new(0).await;
    let mut stream = world.watch("").await.unwrap();
    let snapshot = next(&mut stream).await;
    drop(stream);
    world.task("One").await;
    world.task("Two").await;
    world.task("Three").await;
    let mut resumed = world.watch(&snapshot.resume_token).await.unwrap();
    let message = next(&mut resumed).await;
    let Some(Event::Snapshot(chunk)) = message.event else {
        panic!("{message:?}")
    };
    assert!(chunk.complete);
    assert_eq!((chunk.tasks.len(), chunk.total_task_count), (3, 3));
}

#[tokio::test]
async fn a_stream_that_falls_behind_is_ended_not_waited_for() {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(QUEUE + 1);
    let message = WatchBoardResponse::default();
    for _ in 0..QUEUE {
        assert!(watch::send(&sender, message.clone()).await.unwrap());
    }
    // The queue is full but for the slot kept for the overrun status: the writer is told at
    // once instead of waiting for the reader.
    let overrun = watch::send(&sender, message).await.unwrap_err();
    assert_eq!(overrun.reason(), "WATCH_OVERRUN");
    assert_eq!(receiver.len(), QUEUE);
    receiver.close();
}

#[tokio::test]
async fn board_changes_from_other_replicas_wake_the_streams_here() {
    let bus = events::memory::InProcessBus::default();
    let hub = Hub::default();
    let shutdown = mesh::server::Shutdown::new();
    let board = crate::domain::BoardId::new();
    let notify = hub.entry(board);
    let woken = notify.notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let follower = tokio::spawn(watch::follow(
        Arc::new(bus.clone()),
        hub.clone(),
        shutdown.clone(),
    ));
    // Another replica committed a change to the board: its relay published board.changed.
    let message = crate::events::BOARD_CHANGED
        .event(
            format!("organizations/x/boards/{board}"),
            &taskmesh::events::v1::BoardChanged {
                board_id: board.to_string(),
            },
        )
        .build();
    events::Bus::publish(&bus, &message).await.unwrap();
    tokio::time::timeout(HUNG, woken)
        .await
        .expect("the change did not wake the board's streams");
    // Shutting down ends the follower and tells streams to resume elsewhere.
    shutdown.trigger();
    tokio::time::timeout(HUNG, follower).await.unwrap().unwrap();
    assert!(hub.draining());
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let world = World::new(600).await;
    let expires_at = mesh::time::now_millis() + 400;
    let request = signed_in_until(
        world.user,
        world.organization,
        Some(expires_at),
        WatchBoardRequest {
            board_id: world.project.default_board_id.clone(),
            resume_token: String::new(),
        },
    );
    let mut stream = BoardService::watch_board(&world.api, request)
        .await
        .unwrap()
        .into_inner();
    let snapshot = next(&mut stream).await;
    assert!(matches!(&snapshot.event, Some(Event::Snapshot(chunk)) if chunk.complete));
    // Nothing else happens on the board: the next thing the stream says is that it is over,
    // and not before the token is.
    let ended = tokio::time::timeout(HUNG, stream.next())
        .await
        .expect("watch stream hung")
        .expect("the stream ends with a status")
        .expect_err("the stream ends with an error status");
    assert_eq!(ended.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        mesh::error::reason_of(&ended).as_deref(),
        Some("TOKEN_EXPIRED")
    );
    assert!(mesh::time::now_millis() >= expires_at);
    assert!(
        tokio::time::timeout(HUNG, stream.next())
            .await
            .unwrap()
            .is_none()
    );
}

/// A snapshot turn lasts until the client has taken the whole snapshot, so slow readers
/// cannot make the process hold many snapshots in memory at once.
#[tokio::test]
async fn a_snapshot_turn_lasts_until_the_client_took_the_snapshot() {
    let world = World::new(600).await;
    for number in 0..=watch::CHUNK_TASKS {
        world.task(&format!("Task {number}")).await;
    }
    let all = world.api.hub.snapshot_turns_free();
    let mut stream = world.watch("").await.unwrap();
    let first = next(&mut stream).await;
    assert!(matches!(&first.event, Some(Event::Snapshot(chunk)) if !chunk.complete));
    assert_eq!(
        world.api.hub.snapshot_turns_free(),
        all - 1,
        "the turn is held while the client reads the snapshot"
    );
    let last = next(&mut stream).await;
    assert!(matches!(&last.event, Some(Event::Snapshot(chunk)) if chunk.complete));
    assert_eq!(
        world.api.hub.snapshot_turns_free(),
        all,
        "taking the last chunk ends the turn"
    );
}
