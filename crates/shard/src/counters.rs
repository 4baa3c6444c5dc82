//! [`Counters`]: what a handle's shortcuts did, for tests and monitoring.

use std::sync::atomic::Ordering;

use crate::cache::Cache;

/// What the optimizations of one handle (and its clones) did since it
/// opened: each count shows one shortcut at work, so that a test or a
/// dashboard can tell it is working.
///
/// ```
/// let cache = diskcache_shard::Cache::builder().open_temp()?;
/// cache.set("k", "v")?;
/// for _ in 0..3 {
///     cache.get::<String>("k")?;
/// }
/// // The first read fills the read memo; the next two are answered by it.
/// assert_eq!(cache.counters().memo_answers, 2);
/// # Ok::<(), diskcache_shard::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Reads answered by the read memo, without SQLite.
    pub memo_answers: u64,
    /// Times the memo caught up with other handles' or processes' commits
    /// through the commit feed (`cache.db-memo`) instead of starting over.
    pub memo_catch_ups: u64,
    /// Times the memo was emptied because a commit could not be accounted
    /// for (a writer without the memo, python-diskcache's writes, a feed
    /// that missed a commit).
    pub memo_restarts: u64,
    /// Commits of this handle recorded in the commit feed.
    pub feed_records: u64,
    /// Writes whose cull query was skipped because it could not have found
    /// anything to do.
    pub cull_skips: u64,
    /// Checkpoints of the write-ahead log run by this handle.
    pub checkpoints: u64,
}

impl Cache {
    /// What this handle's optimizations did since it opened (see
    /// [`Counters`]).
    pub fn counters(&self) -> Counters {
        let memo = self.inner.memo.counted();
        Counters {
            memo_answers: memo.answers,
            memo_catch_ups: memo.catch_ups,
            memo_restarts: memo.restarts,
            feed_records: memo.published,
            cull_skips: self.inner.headroom.skips.load(Ordering::Relaxed),
            checkpoints: self.inner.checkpointer.runs(),
        }
    }
}
