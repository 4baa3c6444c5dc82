//! Batched bookkeeping for reads: access times and counts for the LRU and
//! LFU policies, and hit/miss statistics.
//!
//! python-diskcache writes a transaction on every read under LRU, LFU or
//! statistics. Here a read only records what it saw in memory; the records
//! are written in one transaction when enough have gathered, when they are
//! a second old, before a cull by policy (inside the cull's transaction, so
//! eviction sees them), and when statistics are asked for or the handle
//! closes. Another process sees this handle's accesses only after a flush.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Result;
use crate::settings::EvictionPolicy;

/// Flush once this many distinct rows have been read.
const FLUSH_ROWS: usize = 512;
/// Flush once the oldest record is this old.
const FLUSH_AGE: Duration = Duration::from_secs(1);

/// Records not yet written to the database.
#[derive(Default)]
pub(crate) struct Batch {
    /// rowid → (latest access time, number of accesses).
    access: HashMap<i64, (f64, i64)>,
    hits: i64,
    misses: i64,
    since: Option<Instant>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.access.is_empty() && self.hits == 0 && self.misses == 0
    }

    fn merge(&mut self, other: Batch) {
        for (rowid, (time, count)) in other.access {
            let slot = self.access.entry(rowid).or_insert((time, 0));
            slot.0 = slot.0.max(time);
            slot.1 += count;
        }
        self.hits += other.hits;
        self.misses += other.misses;
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Writes the batch inside the caller's transaction.
    pub(crate) fn apply(&self, conn: &Connection, policy: EvictionPolicy) -> Result<()> {
        if !self.access.is_empty() {
            let sql = match policy {
                EvictionPolicy::LeastRecentlyUsed => {
                    "UPDATE Cache SET access_time = max(coalesce(access_time, 0), ?2) WHERE rowid = ?1"
                }
                _ => "UPDATE Cache SET access_count = access_count + ?3 WHERE rowid = ?1",
            };
            let mut stmt = conn.prepare_cached(sql)?;
            for (rowid, (time, count)) in &self.access {
                if policy == EvictionPolicy::LeastRecentlyUsed {
                    stmt.execute(rusqlite::params![rowid, time])?;
                } else {
                    stmt.execute(rusqlite::params![rowid, time, count])?;
                }
            }
        }
        let mut stat =
            conn.prepare_cached("UPDATE Settings SET value = value + ?1 WHERE key = ?2")?;
        if self.hits != 0 {
            stat.execute(rusqlite::params![self.hits, "hits"])?;
        }
        if self.misses != 0 {
            stat.execute(rusqlite::params![self.misses, "misses"])?;
        }
        Ok(())
    }
}

/// The pending batch of one cache handle (shared by its clones).
#[derive(Default)]
pub(crate) struct Pending(Mutex<Batch>);

impl Pending {
    /// Records a read; returns true when the batch is due for a flush.
    pub(crate) fn record(&self, hit: bool, stats: bool, rowid: Option<i64>, now: f64) -> bool {
        let mut batch = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if stats {
            if hit {
                batch.hits += 1;
            } else {
                batch.misses += 1;
            }
        }
        if let Some(rowid) = rowid {
            let slot = batch.access.entry(rowid).or_insert((now, 0));
            slot.0 = slot.0.max(now);
            slot.1 += 1;
        }
        let since = *batch.since.get_or_insert_with(Instant::now);
        batch.access.len() >= FLUSH_ROWS || since.elapsed() >= FLUSH_AGE
    }

    /// Takes the whole batch out.
    pub(crate) fn take(&self) -> Batch {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back a batch that could not be written.
    pub(crate) fn restore(&self, batch: Batch) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(batch);
    }
}
