//! One board's wake-up point and its shared read of the feed, so a change read once from the
//! database reaches every stream of the board in this process (instead of each stream reading
//! the feed on every wake: N watchers used to mean N reads per change).
//!
//! Invariants: `generation` is bumped before streams are woken, after the change committed;
//! the cache holds a gapless run of feed entries ending at `head`, and is only trusted for a
//! wake whose generation it has read past, so no stream misses a change committed before the
//! wake that woke it. A stream the cache does not cover (far behind) reads the database itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use mesh::ids::OrganizationId;
use tokio::sync::{Mutex, Notify};

use super::{ProjectsApi, Result};
use crate::domain::BoardId;
use crate::store::FeedRecord;

/// Feed entries kept per board for streams that are a little behind.
const KEPT: usize = 512;
/// Entries per read.
pub(super) const BATCH: i64 = 200;

#[derive(Default)]
pub struct BoardEntry {
    pub(super) notify: Notify,
    generation: AtomicU64,
    cache: Mutex<FeedCache>,
}

#[derive(Default)]
struct FeedCache {
    /// The wake generation the cache has read past (entries up to `head` were all committed
    /// by then).
    generation: u64,
    /// Last position known to exist; meaningful once `known`.
    head: i64,
    known: bool,
    entries: VecDeque<FeedRecord>,
}

impl FeedCache {
    fn after(&self, position: i64) -> Vec<FeedRecord> {
        self.entries
            .iter()
            .filter(|entry| entry.seq > position)
            .take(BATCH as usize)
            .cloned()
            .collect()
    }

    /// Whether entries after `position` are all here (or there are none).
    fn covers(&self, position: i64) -> bool {
        self.known
            && position <= self.head
            && self
                .entries
                .front()
                .map_or(position == self.head, |first| first.seq <= position + 1)
    }

    fn extend(&mut self, read: &[FeedRecord], from: i64) {
        if !self.known || from != self.head {
            self.entries.clear();
        }
        self.entries.extend(read.iter().cloned());
        while self.entries.len() > KEPT {
            self.entries.pop_front();
        }
        self.head = read.last().map_or(from, |last| last.seq);
        self.known = true;
    }
}

impl BoardEntry {
    /// The generation a stream records before reading, after registering for the next wake.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Called after a change committed: streams woken from now on must read past it.
    pub(super) fn wake(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Entries after `position` (at most [`BATCH`]), for a stream woken at `generation`.
    pub(super) async fn read(
        &self,
        api: &ProjectsApi,
        organization: OrganizationId,
        board: BoardId,
        position: i64,
        generation: u64,
    ) -> Result<Vec<FeedRecord>> {
        let mut cache = self.cache.lock().await;
        if cache.generation >= generation && cache.covers(position) {
            return Ok(cache.after(position));
        }
        if cache.known && position < cache.head && !cache.covers(position) {
            // Far behind what the cache keeps: read alone.
            drop(cache);
            return self.alone(api, organization, board, position).await;
        }
        // Stale, empty, or behind this stream: read once for every stream of the board.
        let from = if cache.known && position <= cache.head {
            cache.head
        } else {
            position
        };
        let now = self.generation();
        let read = api
            .store
            .feed_since(organization, board, from, BATCH)
            .await?;
        let complete = (read.len() as i64) < BATCH;
        cache.extend(&read, from);
        if complete {
            cache.generation = now;
        }
        if !cache.covers(position) {
            drop(cache);
            return self.alone(api, organization, board, position).await;
        }
        Ok(cache.after(position))
    }
}

impl BoardEntry {
    async fn alone(
        &self,
        api: &ProjectsApi,
        organization: OrganizationId,
        board: BoardId,
        position: i64,
    ) -> Result<Vec<FeedRecord>> {
        api.store
            .feed_since(organization, board, position, BATCH)
            .await
    }
}
