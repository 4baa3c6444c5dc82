//! Operations over every shard: counts, statistics, iteration and
//! maintenance. Cheap reads run shard after shard; the maintenance
//! operations, which do I/O, run on all shards in parallel.
//!
//! Maintenance and setting changes finish on every shard: a shard whose
//! lock stays busy past the timeout is waited out (each step tried again,
//! as python-diskcache's FanoutCache does), so that a count covers every
//! shard and a setting reaches all of them; an error other than a timeout
//! is returned, after the other shards are done.

use diskcache_shard::{Cache, CheckReport, Key, Stats};

use crate::error::Result;
use crate::fanout::FanoutCache;

/// What [`FanoutCache::check`] found, shard by shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FanoutReport {
    /// One report per shard, in shard order.
    pub shards: Vec<CheckReport>,
}

impl FanoutReport {
    /// True when no shard has a problem.
    pub fn is_clean(&self) -> bool {
        self.shards.iter().all(CheckReport::is_clean)
    }
}

impl FanoutCache {
    /// Runs `f` on every shard at once, one thread per shard.
    fn parallel<T: Send>(
        &self,
        f: impl Fn(&Cache) -> diskcache_shard::Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let results: Vec<diskcache_shard::Result<T>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .shards()
                .iter()
                .map(|shard| scope.spawn(|| f(shard)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        results.into_iter().collect::<diskcache_shard::Result<_>>()
    }

    /// The sum of `f` over the shards, one after another.
    fn sum(&self, f: impl Fn(&Cache) -> diskcache_shard::Result<u64>) -> Result<u64> {
        let mut total = 0;
        for shard in self.shards() {
            total += f(shard)?;
        }
        Ok(total)
    }

    /// Entries in all shards.
    pub fn len(&self) -> Result<u64> {
        self.sum(Cache::len)
    }

    /// Whether every shard is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Bytes on disk over all shards.
    pub fn volume(&self) -> Result<u64> {
        self.sum(Cache::volume)
    }

    /// The sum over the shards of the counts `f` returns.
    fn sum_stats(&self, f: impl Fn(&Cache) -> diskcache_shard::Result<Stats>) -> Result<Stats> {
        let mut total = Stats::default();
        for shard in self.shards() {
            let s = f(shard)?;
            total.hits += s.hits;
            total.misses += s.misses;
        }
        Ok(total)
    }

    /// Hits and misses summed over the shards.
    pub fn stats(&self) -> Result<Stats> {
        self.sum_stats(Cache::stats)
    }

    /// Runs `f` on every shard, in shard order, also after one fails;
    /// the first error, if any.
    fn each(&self, f: impl Fn(&Cache) -> diskcache_shard::Result<()>) -> Result<()> {
        let mut first = None;
        for shard in self.shards() {
            if let Err(e) = f(shard) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Turns statistics on or off in every shard, waiting out a busy one.
    pub fn set_statistics(&self, on: bool) -> Result<()> {
        self.each(|s| s.retrying().set_statistics(on))
    }

    /// Changes the size limit of the whole cache: each shard gets an equal
    /// share, as at opening, and culls its own (see
    /// [`Cache::set_size_limit`]). A busy shard is waited out, so that
    /// every shard has its share when this returns.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::builder().shards(4).open(dir.path())?;
    /// cache.set_size_limit(64 << 20)?;
    /// assert_eq!(cache.shards()[3].settings().size_limit, 16 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_size_limit(&self, bytes: u64) -> Result<()> {
        let share = bytes / self.shards().len().max(1) as u64;
        self.each(|s| s.retrying().set_size_limit(share))
    }

    /// Changes how many entries one write may cull, in every shard (see
    /// [`Cache::set_cull_limit`]), waiting out a busy one.
    pub fn set_cull_limit(&self, entries: u64) -> Result<()> {
        self.each(|s| s.retrying().set_cull_limit(entries))
    }

    /// Changes the size from which values go to files, in every shard (see
    /// [`Cache::set_min_file_size`]), waiting out a busy one.
    pub fn set_min_file_size(&self, bytes: u64) -> Result<()> {
        self.each(|s| s.retrying().set_min_file_size(bytes))
    }

    /// Reads every shard's changeable settings again (see
    /// [`Cache::reload_settings`]).
    pub fn reload_settings(&self) -> Result<()> {
        self.each(|s| s.reload_settings().map(drop))
    }

    /// Sets every shard's counts to zero, returning their sum as it was.
    pub fn reset_stats(&self) -> Result<Stats> {
        self.sum_stats(Cache::reset_stats)
    }

    /// Every key, shard by shard, each shard's oldest first; each key is
    /// visited once.
    pub fn keys(&self) -> impl Iterator<Item = Result<Key>> + '_ {
        self.shards().iter().flat_map(|s| s.keys())
    }

    /// Every key in the reverse order of [`keys`](FanoutCache::keys).
    pub fn keys_rev(&self) -> impl Iterator<Item = Result<Key>> + '_ {
        self.shards().iter().rev().flat_map(|s| s.keys_rev())
    }

    /// Checks (and with `fix` repairs) every shard, in parallel.
    pub fn check(&self, fix: bool) -> Result<FanoutReport> {
        Ok(FanoutReport {
            shards: self.parallel(|s| s.check(fix))?,
        })
    }

    /// [`check`](FanoutCache::check) with the orphan age of
    /// [`Cache::check_with`].
    pub fn check_with(&self, fix: bool, orphan_grace: std::time::Duration) -> Result<FanoutReport> {
        Ok(FanoutReport {
            shards: self.parallel(|s| s.check_with(fix, orphan_grace))?,
        })
    }

    /// Removes expired entries from every shard, in parallel, waiting out
    /// a busy shard (see [`Cache::retrying`]); how many.
    pub fn expire(&self) -> Result<u64> {
        Ok(self.parallel(|s| s.retrying().expire())?.into_iter().sum())
    }

    /// Culls every shard to its share of the size limit, in parallel,
    /// waiting out a busy shard; how many entries were removed.
    pub fn cull(&self) -> Result<u64> {
        Ok(self.parallel(|s| s.retrying().cull())?.into_iter().sum())
    }

    /// Removes the entries tagged `tag` from every shard, in parallel,
    /// waiting out a busy shard; how many.
    pub fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        let tag: Key = tag.into();
        Ok(self
            .parallel(|s| s.retrying().evict(tag.clone()))?
            .into_iter()
            .sum())
    }

    /// Removes every entry from every shard, in parallel, waiting out a
    /// busy shard; how many. With a short timeout and another process
    /// holding one shard's lock, this returns once that shard is cleared
    /// too, with the count of all of them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_fanout::FanoutCache;
    /// use diskcache_shard::CacheBuilder;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = FanoutCache::builder()
    ///     .cache(CacheBuilder::new().timeout(Duration::from_millis(10)))
    ///     .open(dir.path())?;
    /// for i in 0..250 {
    ///     cache.set(&i, &i)?;
    /// }
    /// assert_eq!(cache.clear()?, 250);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<u64> {
        Ok(self.parallel(|s| s.retrying().clear())?.into_iter().sum())
    }

    /// Creates the tag index in every shard, waiting out a busy one.
    pub fn create_tag_index(&self) -> Result<()> {
        self.parallel(|s| s.retrying().create_tag_index()).map(drop)
    }

    /// Drops the tag index in every shard, waiting out a busy one.
    pub fn drop_tag_index(&self) -> Result<()> {
        self.parallel(|s| s.retrying().drop_tag_index()).map(drop)
    }

    /// Writes pending records and closes idle connections of every shard.
    pub fn close(self) -> Result<()> {
        for shard in self.shards() {
            shard.clone().close()?;
        }
        Ok(())
    }
}
