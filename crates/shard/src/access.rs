//! Batched bookkeeping for reads: access times and counts for the LRU and
//! LFU policies, and hit/miss statistics.
//!
//! python-diskcache writes a transaction on every read under LRU, LFU or
//! statistics. Here a read only records what it saw in memory; the records
//! are written in one transaction when enough have gathered, when they are
//! a second old, before a cull by policy (inside the cull's transaction, so
//! eviction sees them), and when statistics are asked for or the handle
//! closes. Another process sees this handle's accesses only after a flush.
//! A flush set off by a read does not wait out a long transaction of
//! another writer: it gives up, and the batch waits a second more.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Result;
use crate::settings::EvictionPolicy;

/// Flush once this many distinct rows have been read.
const FLUSH_ROWS: usize = 512;
/// Flush once the oldest record is this old.
const FLUSH_AGE: Duration = Duration::from_secs(1);
/// The most rows a batch tracks (a few MB), reached only while flushes fail.
const MAX_ROWS: usize = 64 * FLUSH_ROWS;

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
pub(crate) struct Pending(Mutex<Queue>);

#[derive(Default)]
struct Queue {
    batch: Batch,
    /// After a flush from a read gave up on the write lock: no flush is
    /// due before this.
    not_before: Option<Instant>,
}

impl Pending {
    /// Records a read; returns true when the batch is due for a flush.
    /// While a flush is held back, at most [`MAX_ROWS`] rows are tracked:
    /// reads of further rows count for statistics only.
    pub(crate) fn record(&self, hit: bool, stats: bool, rowid: Option<i64>, now: f64) -> bool {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let batch = &mut queue.batch;
        if stats {
            if hit {
                batch.hits += 1;
            } else {
                batch.misses += 1;
            }
        }
        if let Some(rowid) = rowid {
            let room = batch.access.len() < MAX_ROWS;
            match batch.access.entry(rowid) {
                Entry::Occupied(mut slot) => {
                    let slot = slot.get_mut();
                    slot.0 = slot.0.max(now);
                    slot.1 += 1;
                }
                Entry::Vacant(slot) if room => {
                    slot.insert((now, 1));
                }
                Entry::Vacant(_) => {}
            }
        }
        let since = *batch.since.get_or_insert_with(Instant::now);
        let due = batch.access.len() >= FLUSH_ROWS || since.elapsed() >= FLUSH_AGE;
        due && queue.not_before.is_none_or(|t| Instant::now() >= t)
    }

    /// Takes the whole batch out.
    pub(crate) fn take(&self) -> Batch {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.not_before = None;
        std::mem::take(&mut queue.batch)
    }

    /// Puts back a batch that could not be written; with `hold`, no flush
    /// is due again for [`FLUSH_AGE`].
    pub(crate) fn restore(&self, batch: Batch, hold: bool) {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.batch.merge(batch);
        if hold {
            queue.not_before = Some(Instant::now() + FLUSH_AGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_back_batch_is_not_due_and_stops_growing() {
        let pending = Pending::default();
        let due = (0..FLUSH_ROWS as i64)
            .map(|rowid| pending.record(true, false, Some(rowid), 1.0))
            .last();
        assert_eq!(due, Some(true));
        pending.restore(pending.take(), true);
        assert!(!pending.record(true, false, Some(0), 2.0), "due while held");
        for rowid in 0..2 * MAX_ROWS as i64 {
            pending.record(true, false, Some(rowid), 3.0);
        }
        let batch = pending.take();
        assert_eq!(batch.access.len(), MAX_ROWS);
        // Rows already tracked still count their reads.
        assert_eq!(batch.access.get(&0), Some(&(3.0, 3)));
        // Taken out, the batch starts afresh and is due again by size.
        let due = (0..FLUSH_ROWS as i64)
            .map(|rowid| pending.record(true, false, Some(rowid), 4.0))
            .last();
        assert_eq!(due, Some(true));
    }
}
