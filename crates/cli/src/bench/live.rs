//! Scenarios that measure delivery rather than calls: `watch` (WatchBoard streams receiving
//! the moves writers make: lag from the change's `event_time` to its arrival) and `events`
//! (task.created from its `occurred_at`, stamped when the change is written, through the
//! outbox and the bus to a consumer).
//!
//! Both clocks are this machine's, so the lags are comparable; `event_time` is stamped in
//! milliseconds, so watch lags below 1 ms read as the sub-millisecond remainder.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::{Bus, ConsumerConfig, StartAt};
use taskmesh::projects::v1::board_service_client::BoardServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::watch_board_response::Event;
use taskmesh::projects::v1::*;
use tokio::sync::watch;
use tonic::transport::Channel;

use super::load::{self, Recorder, Shape, Workload};
use super::world::{World, bearer};

fn micros(at: &prost_types::Timestamp) -> i128 {
    at.seconds as i128 * 1_000_000 + at.nanos as i128 / 1_000
}

/// How far `at` lies in the past, in microseconds (0 when in the future).
fn lag_micros(at: &prost_types::Timestamp) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i128;
    (now - micros(at)).max(0) as u64
}

/// A guard against a watcher that never sees the sentinel, not a timing claim.
const HUNG: Duration = Duration::from_secs(30);

pub const WATCH_LAG: &str = "WatchBoard delivery lag";
pub const EVENT_LAG: &str = "task.created commit→consumer lag";

/// Opens `watchers` WatchBoard streams (100 per connection), waits for every snapshot, then
/// runs `writers` (moves) with `shape` over `channels` and records each watcher's lag. A
/// sentinel task created after the last move ends each stream: the feed is in commit order,
/// so a watcher that has seen it has seen every move.
pub async fn watch(
    url: &str,
    world: &World,
    watchers: usize,
    channels: &[Channel],
    shape: Shape,
    writers: Arc<dyn Workload>,
    quiet: bool,
) -> anyhow::Result<(Recorder, Duration)> {
    let (stop, stopped) = watch::channel(false);
    let sentinel: Arc<str> = format!("bench watch sentinel {}", uuid::Uuid::now_v7()).into();
    let (opened, mut opened_rx) = tokio::sync::mpsc::channel::<()>(watchers.max(1));
    let mut streams = tokio::task::JoinSet::new();
    let mut connection = None;
    for index in 0..watchers {
        if index % 100 == 0 {
            connection = Some(super::world::connect(url).await?);
        }
        let channel = connection.clone().expect("a connection per 100 watchers");
        let (board_id, token) = (world.board_id.clone(), world.token.clone());
        let (opened, mut stopped) = (opened.clone(), stopped.clone());
        let sentinel = sentinel.clone();
        streams.spawn(async move {
            let mut recorder = Recorder::default();
            let request = WatchBoardRequest {
                board_id,
                resume_token: String::new(),
            };
            let mut stream = match BoardServiceClient::new(channel)
                .watch_board(bearer(request, &token))
                .await
            {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    recorder.record("WatchBoard", Err(status.code()), Duration::ZERO);
                    let _ = opened.send(()).await;
                    return recorder;
                }
            };
            let mut snapshot_seen = false;
            loop {
                tokio::select! {
                    message = stream.message() => match message {
                        Ok(Some(message)) => {
                            match (&message.event, &message.event_time) {
                                (Some(Event::Snapshot(_)), _) if !snapshot_seen => {
                                    snapshot_seen = true;
                                    let _ = opened.send(()).await;
                                }
                                (Some(Event::TaskMoved(_)), Some(at)) if snapshot_seen => {
                                    recorder.record_micros(WATCH_LAG, lag_micros(at));
                                }
                                (Some(Event::TaskCreated(task)), _) if *task.title == *sentinel => {
                                    break;
                                }
                                _ => {}
                            }
                        }
                        Ok(None) => break,
                        Err(status) => {
                            recorder.record("WatchBoard", Err(status.code()), Duration::ZERO);
                            break;
                        }
                    },
                    _ = stopped.changed() => break,
                }
            }
            if !snapshot_seen {
                let _ = opened.send(()).await;
            }
            recorder
        });
    }
    drop(opened);
    for _ in 0..watchers {
        if opened_rx.recv().await.is_none() {
            break;
        }
    }
    let (mut recorder, took) = load::drive("watch", channels, shape, writers, quiet).await;
    TaskServiceClient::new(channels[0].clone())
        .create_task(bearer(
            CreateTaskRequest {
                task: Some(Task {
                    project_id: world.project_id.clone(),
                    title: sentinel.to_string(),
                    ..Task::default()
                }),
                request_id: String::new(),
            },
            &world.token,
        ))
        .await?;
    // Every watcher ends on the sentinel; one that lost it (its stream failed) is stopped
    // after a bound instead of being waited for.
    let mut watchers_left = streams.len();
    while watchers_left > 0 {
        match tokio::time::timeout(HUNG, streams.join_next()).await {
            Ok(Some(watcher)) => {
                recorder.merge(watcher?);
                watchers_left -= 1;
            }
            Ok(None) => break,
            Err(_) => {
                let _ = stop.send(true);
            }
        }
    }
    Ok((recorder, took))
}

/// Runs `writers` (task creations) with `shape` while a consumer on `bus` records each
/// task.created event's lag; waits (at most 10 s) for the consumer to catch up.
pub async fn events(
    bus: Arc<dyn Bus>,
    channels: &[Channel],
    shape: Shape,
    writers: Arc<dyn Workload>,
    quiet: bool,
) -> anyhow::Result<(Recorder, Duration)> {
    let consumer = ConsumerConfig {
        name: format!("bench-{}", uuid::Uuid::now_v7().simple()),
        filter_subjects: vec!["taskmesh.projects.task.created".into()],
        ack_wait: Duration::from_secs(30),
        ephemeral: true,
        start: StartAt::Since(SystemTime::now()),
    };
    let mut subscription = bus.subscribe(&consumer).await?;
    // Events written before the warm-up are ignored (the in-process bus replays what it
    // retains); events written after it are measured.
    use std::sync::atomic::{AtomicI64, Ordering};
    let warm_up_from = micros(&prost_types::Timestamp::from(SystemTime::now()));
    let measure_from = Arc::new(AtomicI64::new(i64::MAX));
    let (seen_tx, mut seen) = watch::channel(0u64);
    let (warm_tx, mut warm) = watch::channel(false);
    let counted = measure_from.clone();
    let (stop, mut stopped) = watch::channel(false);
    let listener = tokio::spawn(async move {
        let mut recorder = Recorder::default();
        let mut count = 0;
        loop {
            let delivery = tokio::select! {
                delivery = subscription.next() => match delivery {
                    Ok(delivery) => delivery,
                    Err(_) => break,
                },
                _ = stopped.changed() => break,
            };
            if let Ok(event) = events::envelope::decode(&delivery.message)
                && let Some(at) = &event.occurred_at
                && micros(at) >= warm_up_from
                && {
                    let _ = warm_tx.send(true);
                    micros(at) >= counted.load(Ordering::SeqCst) as i128
                }
            {
                recorder.record_micros(EVENT_LAG, lag_micros(at));
                count += 1;
                let _ = seen_tx.send(count);
            }
            let _ = delivery.ack().await;
        }
        recorder
    });
    // Warm-up: the relay publishes in commit order, so once an event written now arrives,
    // whatever earlier scenarios left in the outbox is out of the way.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    let (_, warm_up) = writers.step(&channels[0], &mut rng).await;
    warm_up.map_err(|code| anyhow::anyhow!("events warm-up: {code:?}"))?;
    tokio::time::timeout(Duration::from_secs(60), warm.wait_for(|warm| *warm))
        .await
        .map_err(|_| anyhow::anyhow!("events warm-up: the event did not arrive"))??;
    measure_from.store(
        micros(&prost_types::Timestamp::from(SystemTime::now())) as i64,
        Ordering::SeqCst,
    );
    let (mut recorder, took) = load::drive("events", channels, shape, writers, quiet).await;
    let created = recorder
        .rpcs
        .get("CreateTask")
        .map(|stats| stats.latency.len())
        .unwrap_or(0);
    // Bounded wait for the consumer to catch up; a shortfall shows as fewer lag samples.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        seen.wait_for(|count| *count >= created),
    )
    .await;
    let _ = stop.send(true);
    recorder.merge(listener.await?);
    Ok((recorder, took))
}
