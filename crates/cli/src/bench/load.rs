//! The load driver: workers over HTTP/2 connections call a workload until a deadline or a
//! request budget is spent, recording each call's latency in an HDR histogram per RPC and each
//! failure by status code.
//!
//! Invariants: latency is measured around one call (no coordinated-omission correction: the
//! workers are closed-loop, as h2load's are); histograms cover 1 µs to 60 s at three
//! significant digits; workers never share a histogram while running (merged at the end).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::transport::Channel;

/// One call of a workload: the RPC's name and its outcome.
pub type Outcome = (&'static str, Result<(), tonic::Code>);

/// What the workers call: one step per call, on the worker's connection.
#[async_trait::async_trait]
pub trait Workload: Send + Sync {
    /// Waits until the next call may start (not timed; paced workloads wait for their slot).
    async fn ready(&self) {}
    async fn step(&self, channel: &Channel, rng: &mut StdRng) -> Outcome;
}

/// `inner` at a fixed total rate (calls per second) across all workers: open-loop writers
/// for the delivery scenarios, whose lag means nothing when writers saturate the server.
pub struct Paced {
    inner: Arc<dyn Workload>,
    per_second: f64,
    /// Set by the first call, so setup time is not made up with a burst.
    started: std::sync::OnceLock<Instant>,
    slots: AtomicU64,
}

impl Paced {
    pub fn new(inner: Arc<dyn Workload>, per_second: f64) -> Arc<Self> {
        Arc::new(Self {
            inner,
            per_second: per_second.max(0.001),
            started: std::sync::OnceLock::new(),
            slots: AtomicU64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Workload for Paced {
    async fn ready(&self) {
        let slot = self.slots.fetch_add(1, Ordering::Relaxed);
        let started = *self.started.get_or_init(Instant::now);
        let at = started + Duration::from_secs_f64(slot as f64 / self.per_second);
        tokio::time::sleep_until(at.into()).await;
    }

    async fn step(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        self.inner.step(channel, rng).await
    }
}

/// Latencies and failures per RPC.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    pub rpcs: BTreeMap<&'static str, RpcStats>,
}

#[derive(Clone, Debug)]
pub struct RpcStats {
    /// Latency of successful calls, in microseconds.
    pub latency: Histogram<u64>,
    /// Failed calls by status code name.
    pub errors: BTreeMap<String, u64>,
}

impl Default for RpcStats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            errors: BTreeMap::new(),
        }
    }
}

/// A histogram of microseconds from 1 µs to 60 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Recorder {
    pub fn record(&mut self, rpc: &'static str, outcome: Result<(), tonic::Code>, took: Duration) {
        let stats = self.rpcs.entry(rpc).or_default();
        match outcome {
            Ok(()) => stats.latency.saturating_record(took.as_micros() as u64),
            Err(code) => *stats.errors.entry(format!("{code:?}")).or_default() += 1,
        }
    }

    /// Records a latency measured elsewhere (e.g. a delivery lag), in microseconds.
    pub fn record_micros(&mut self, rpc: &'static str, micros: u64) {
        self.rpcs
            .entry(rpc)
            .or_default()
            .latency
            .saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: Recorder) {
        for (rpc, stats) in other.rpcs {
            let mine = self.rpcs.entry(rpc).or_default();
            mine.latency
                .add(&stats.latency)
                .expect("same histogram bounds");
            for (code, count) in stats.errors {
                *mine.errors.entry(code).or_default() += count;
            }
        }
    }

    #[cfg(test)]
    pub fn calls(&self) -> u64 {
        self.rpcs
            .values()
            .map(|stats| stats.latency.len() + stats.errors.values().sum::<u64>())
            .sum()
    }
}

/// How long, or how many calls, a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Duration(Duration),
    Requests(u64),
}

/// The shape of a run: connections × concurrent streams on each.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub connections: usize,
    pub streams: usize,
    pub budget: Budget,
}

/// Runs `workload` with `shape` over `channels` (one per connection); returns what was recorded
/// and the wall time of the run. Prints a progress line to stderr each second unless `quiet`.
pub async fn drive(
    label: &str,
    channels: &[Channel],
    shape: Shape,
    workload: Arc<dyn Workload>,
    quiet: bool,
) -> (Recorder, Duration) {
    let started = Instant::now();
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = match shape.budget {
        Budget::Duration(duration) => Some(started + duration),
        Budget::Requests(_) => None,
    };
    let limit = match shape.budget {
        Budget::Requests(count) => count,
        Budget::Duration(_) => u64::MAX,
    };
    let mut workers = tokio::task::JoinSet::new();
    for (index, channel) in channels.iter().take(shape.connections.max(1)).enumerate() {
        for stream in 0..shape.streams {
            let (channel, workload, issued) = (channel.clone(), workload.clone(), issued.clone());
            let seed = (index * shape.streams + stream) as u64;
            workers.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut recorder = Recorder::default();
                loop {
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline)
                        || issued.fetch_add(1, Ordering::Relaxed) >= limit
                    {
                        break;
                    }
                    workload.ready().await;
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        break;
                    }
                    let call = Instant::now();
                    let (rpc, outcome) = workload.step(&channel, &mut rng).await;
                    recorder.record(rpc, outcome, call.elapsed());
                }
                recorder
            });
        }
    }
    let progress = (!quiet).then(|| {
        let (issued, label) = (issued.clone(), label.to_string());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = 0;
            loop {
                tick.tick().await;
                let now = issued.load(Ordering::Relaxed).min(limit);
                eprint!(
                    "\r{label}: {:>5.1} s, {now} calls, {} /s      ",
                    started.elapsed().as_secs_f64(),
                    now - last
                );
                last = now;
            }
        })
    });
    let mut recorder = Recorder::default();
    while let Some(result) = workers.join_next().await {
        recorder.merge(result.expect("bench worker panicked"));
    }
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r{:80}\r", "");
    }
    (recorder, started.elapsed())
}

/// Maps a call's result to an outcome.
pub fn outcome<T>(rpc: &'static str, result: Result<T, tonic::Status>) -> Outcome {
    (rpc, result.map(|_| ()).map_err(|status| status.code()))
}
