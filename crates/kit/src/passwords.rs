//! Password hashing on a fixed set of worker threads, for every service that keeps
//! passwords (identity's accounts, links' share-link passwords).
//!
//! argon2id with the OWASP parameters (m = 19 MiB, t = 2, p = 1). Invariants:
//! - At most `workers` hashes run at once, however many calls wait or were cancelled: the
//!   bound is the number of threads doing the work, not a permit an async caller holds (a
//!   caller cancelled by its deadline used to free its permit while its 19 MiB job ran on).
//! - Each worker allocates its 19 MiB of argon2 memory once and reuses it, so hash memory
//!   is `workers` × 19 MiB for the life of the process, whatever the load.
//! - A job whose caller has gone (deadline, disconnect) is skipped, not computed.
//! - When the queue is full the call fails at once (RESOURCE_EXHAUSTED with a retry hint):
//!   a flood degrades to fast refusals instead of a growing backlog.
//!
//! Metrics, labelled with the `pool` (the service): `taskmesh_password_hashes_running` and
//! `taskmesh_password_hashes_peak` (gauges;
//! the peak never exceeds the workers) and `taskmesh_password_hashes_total` by `outcome`
//! (`computed`, `skipped`, `refused`).
//!
//! Unknown accounts are verified against a dummy hash, so response time does not tell
//! whether an email is registered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

/// Why a hash could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The queue is full: retry after this long.
    #[error("too many password checks at once")]
    Busy(Duration),
    /// The pool stopped or argon2 failed.
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Jobs waiting per worker before new calls are refused.
const QUEUE_PER_WORKER: usize = 32;
/// Length of a stored hash, in bytes.
const OUTPUT_LEN: usize = 32;

fn params() -> Params {
    Params::new(19_456, 2, 1, Some(OUTPUT_LEN)).expect("OWASP parameters are valid")
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, PasswordError>>,
    },
    Verify {
        password: String,
        phc: Arc<str>,
        reply: oneshot::Sender<Result<bool, PasswordError>>,
    },
}

/// Counters the pool keeps about itself (tests and metrics read them).
#[derive(Debug, Default)]
pub struct HasherStats {
    running: AtomicUsize,
    peak: AtomicUsize,
    computed: AtomicUsize,
    skipped: AtomicUsize,
}

impl HasherStats {
    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Hashes computed.
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::SeqCst)
    }

    /// Jobs dropped because their caller had gone.
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::SeqCst)
    }
}

/// Hashes and verifies passwords on `workers` threads.
#[derive(Clone)]
pub struct PasswordHasherPool {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
    stats: Arc<HasherStats>,
}

impl PasswordHasherPool {
    /// A pool of `workers` threads (0: one per CPU) for service `name` (the `pool` label of
    /// its metrics). The threads end when the last clone of the pool is dropped.
    pub fn new(name: &'static str, workers: usize) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let (jobs, receiver) = mpsc::channel(workers * QUEUE_PER_WORKER);
        let receiver = Arc::new(Mutex::new(receiver));
        let stats = Arc::new(HasherStats::default());
        let mut memory = Memory::new();
        let dummy_hash: Arc<str> = memory
            .hash("taskmesh-dummy-password-for-timing")
            .expect("hashing a constant works")
            .into();
        for index in 0..workers {
            let receiver = receiver.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name(format!("{name}-password-hasher-{index}"))
                .spawn(move || work(name, &receiver, &stats))
                .expect("spawn a password hasher thread");
        }
        Self {
            name,
            jobs,
            dummy_hash,
            stats,
        }
    }

    /// The pool's counters.
    pub fn stats(&self) -> &HasherStats {
        &self.stats
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            password: password.to_string(),
            reply,
        })?;
        answer
            .await
            .map_err(|_| PasswordError::Internal("password hasher stopped".into()))?
    }

    /// True when `password` matches `phc`; with `None` (unknown account) it verifies
    /// against the dummy hash and returns false, taking the same time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password: password.to_string(),
            phc: phc.map_or_else(|| self.dummy_hash.clone(), Arc::from),
            reply,
        })?;
        let matched = answer
            .await
            .map_err(|_| PasswordError::Internal("password hasher stopped".into()))??;
        Ok(phc.is_some() && matched)
    }

    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        self.jobs.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!("taskmesh_password_hashes_total", "pool" => self.name, "outcome" => "refused")
                    .increment(1);
                PasswordError::Busy(Duration::from_secs(1))
            }
            mpsc::error::TrySendError::Closed(_) => {
                PasswordError::Internal("password hasher stopped".into())
            }
        })
    }
}

/// One worker: takes jobs until the pool is dropped, skipping those nobody waits for.
fn work(pool: &'static str, receiver: &Mutex<mpsc::Receiver<Job>>, stats: &HasherStats) {
    let mut memory = Memory::new();
    loop {
        let job = match receiver.lock() {
            Ok(mut receiver) => receiver.blocking_recv(),
            Err(_) => None,
        };
        let Some(job) = job else {
            return;
        };
        let abandoned = match &job {
            Job::Hash { reply, .. } => reply.is_closed(),
            Job::Verify { reply, .. } => reply.is_closed(),
        };
        if abandoned {
            stats.skipped.fetch_add(1, Ordering::SeqCst);
            metrics::counter!("taskmesh_password_hashes_total", "pool" => pool, "outcome" => "skipped")
                .increment(1);
            continue;
        }
        let running = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        let peak = stats.peak.fetch_max(running, Ordering::SeqCst).max(running);
        metrics::gauge!("taskmesh_password_hashes_running", "pool" => pool).increment(1.0);
        metrics::gauge!("taskmesh_password_hashes_peak", "pool" => pool).set(peak as f64);
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(memory.hash(&password));
            }
            Job::Verify {
                password,
                phc,
                reply,
            } => {
                let _ = reply.send(memory.verify(&password, &phc));
            }
        }
        stats.computed.fetch_add(1, Ordering::SeqCst);
        stats.running.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("taskmesh_password_hashes_running", "pool" => pool).decrement(1.0);
        metrics::counter!("taskmesh_password_hashes_total", "pool" => pool, "outcome" => "computed").increment(1);
    }
}

/// A worker's argon2 memory: allocated at its first hash (an idle process holds none), then
/// reused for every later one.
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn new() -> Self {
        Self { blocks: Vec::new() }
    }

    fn blocks(&mut self) -> &mut [Block] {
        let count = params().block_count();
        if self.blocks.len() < count {
            self.blocks = vec![Block::default(); count];
        }
        &mut self.blocks
    }

    fn hash(&mut self, password: &str) -> Result<String, PasswordError> {
        let params = params();
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(internal)?;
        let mut output = [0u8; OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, self.blocks())
            .map_err(internal)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(internal)?,
            salt: Some(Salt::new(&salt).map_err(internal)?),
            hash: Some(Output::new(&output).map_err(internal)?),
        };
        Ok(phc.to_string())
    }

    /// Verifies against a stored PHC string; a hash with other parameters (made before a
    /// parameter change) gets memory of its own size for this one call.
    fn verify(&mut self, password: &str, phc: &str) -> Result<bool, PasswordError> {
        let stored = PasswordHash::new(phc).map_err(internal)?;
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return Ok(false);
        };
        let params = Params::try_from(&stored).map_err(internal)?;
        let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(internal)?;
        let version =
            Version::try_from(stored.version.unwrap_or(Version::V0x13.into())).map_err(internal)?;
        let mut output = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let computed = if params.block_count() <= self::params().block_count() {
            argon2.hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut output,
                self.blocks(),
            )
        } else {
            argon2.hash_password_into(password.as_bytes(), salt, &mut output)
        };
        computed.map_err(internal)?;
        // Output's equality is constant-time.
        Ok(Output::new(&output).map_err(internal)? == *expected)
    }
}

fn internal(error: impl std::fmt::Display) -> PasswordError {
    PasswordError::Internal(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let pool = PasswordHasherPool::new("test", 1);
        let hash = pool.hash("correct-horse-7").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(pool.verify("correct-horse-7", Some(&hash)).await.unwrap());
        assert!(!pool.verify("wrong-horse-7", Some(&hash)).await.unwrap());
        assert!(
            !pool
                .verify("taskmesh-dummy-password-for-timing", None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let made_elsewhere = argon2
            .hash_password_with_salt(b"correct-horse-7", b"0123456789abcdef")
            .unwrap()
            .to_string();
        let pool = PasswordHasherPool::new("test", 1);
        assert!(
            pool.verify("correct-horse-7", Some(&made_elsewhere))
                .await
                .unwrap()
        );
        // Other parameters (a cheaper, older hash) verify too.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4_096, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"correct-horse-7", b"0123456789abcdef")
        .unwrap()
        .to_string();
        assert!(pool.verify("correct-horse-7", Some(&cheap)).await.unwrap());
        assert!(!pool.verify("wrong-horse-77", Some(&cheap)).await.unwrap());
    }

    #[tokio::test]
    async fn cancelled_calls_never_raise_the_number_of_running_hashes() {
        let pool = PasswordHasherPool::new("test", 1);
        // Callers that give up at once (a deadline), then callers that wait.
        let mut abandoned = Vec::new();
        for _ in 0..20 {
            let pool = pool.clone();
            abandoned.push(tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_millis(1), pool.hash("x-1234567890")).await;
            }));
        }
        for call in abandoned {
            call.await.unwrap();
        }
        let waited = futures_join(&pool, 3).await;
        assert_eq!(waited, 3);
        assert_eq!(pool.stats().peak(), 1, "more hashes ran than workers exist");
        assert!(
            pool.stats().skipped() > 0,
            "abandoned jobs were computed anyway"
        );
        assert!(pool.stats().computed() < 23);
    }

    async fn futures_join(pool: &PasswordHasherPool, count: usize) -> usize {
        let mut done = 0;
        let mut calls = Vec::new();
        for _ in 0..count {
            let pool = pool.clone();
            calls.push(tokio::spawn(async move { pool.hash("y-1234567890").await }));
        }
        for call in calls {
            if call.await.unwrap().is_ok() {
                done += 1;
            }
        }
        done
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = PasswordHasherPool::new("test", 1);
        let mut calls = Vec::new();
        for _ in 0..(QUEUE_PER_WORKER + 8) {
            let pool = pool.clone();
            calls.push(tokio::spawn(async move { pool.hash("z-1234567890").await }));
        }
        let mut refused = 0;
        for call in calls {
            if let Err(PasswordError::Busy(_)) = call.await.unwrap() {
                refused += 1;
            }
        }
        assert!(refused > 0, "a flood past the queue was not refused");
    }
}
