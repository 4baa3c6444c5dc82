//! [`FanoutBuilder`]: shard count, hash and the settings of every shard.

use std::path::Path;
use std::sync::Arc;

use diskcache_shard::{Cache, CacheBuilder};

use crate::error::{self, Result};
use crate::fanout::{FanoutCache, Inner};
use crate::layout::{self, ShardHash};

/// The total size limit of a new directory when none is given: 1 GiB,
/// split across the shards.
const DEFAULT_SIZE_LIMIT: u64 = 1 << 30;

/// Opens a [`FanoutCache`] with chosen settings.
///
/// ```
/// use diskcache_fanout::FanoutCache;
/// use diskcache_shard::{CacheBuilder, EvictionPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let cache = FanoutCache::builder()
///     .shards(4)
///     .size_limit(256 << 20)
///     .cache(CacheBuilder::new().eviction_policy(EvictionPolicy::LeastRecentlyUsed))
///     .open(dir.path())?;
/// assert_eq!(cache.shards().len(), 4);
/// assert_eq!(cache.shards()[0].settings().size_limit, 64 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until open is called"]
pub struct FanoutBuilder {
    shards: Option<usize>,
    hash: Option<ShardHash>,
    size_limit: Option<u64>,
    cache: CacheBuilder,
}

impl FanoutBuilder {
    /// A builder with every setting left to the stored value or default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of shards, fixed when the directory is created. Default
    /// = the recorded count, the number of shard folders python-diskcache
    /// made (another count there is [`Error::Layout`](crate::Error::Layout)), or 8 for a new
    /// directory.
    pub fn shards(mut self, count: usize) -> Self {
        self.shards = Some(count);
        self
    }

    /// How keys pick shards, fixed when the directory is created. Default
    /// = the recorded hash; for shard folders python-diskcache made (no
    /// `fanout.cfg`), python's [`ShardHash::Adler32`], and asking for
    /// another hash there is [`Error::Layout`](crate::Error::Layout); [`ShardHash::Xxh3`] for a
    /// new directory.
    pub fn hash(mut self, hash: ShardHash) -> Self {
        self.hash = Some(hash);
        self
    }

    /// The total size limit in bytes, split evenly across the shards (each
    /// culls on its own). Each shard's write-ahead log comes on top (see
    /// [`CacheBuilder::size_limit`]). Default = the shards' stored limits,
    /// or 1 GiB in all for a new directory.
    pub fn size_limit(mut self, bytes: u64) -> Self {
        self.size_limit = Some(bytes);
        self
    }

    /// The settings of every shard (eviction policy, timeout, open
    /// timeout, retry, …); its size limit is replaced by this builder's
    /// share. Default = [`CacheBuilder::new`]. Each shard opens with the
    /// builder's [`open_timeout`](CacheBuilder::open_timeout) as its own
    /// bound, one shard after another.
    pub fn cache(mut self, builder: CacheBuilder) -> Self {
        self.cache = builder;
        self
    }

    /// Opens the fanout cache in `dir`, creating what is missing.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<FanoutCache> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| error::io(dir, e))?;
        let dir = dir.canonicalize().map_err(|e| error::io(dir, e))?;
        let (count, hash, new) = layout::settle(&dir, self.shards, self.hash)?;
        let total = self.size_limit.or(new.then_some(DEFAULT_SIZE_LIMIT));
        let mut shard = self.cache.clone();
        if let Some(total) = total {
            shard = shard.size_limit(total / count as u64);
        }
        let shards = (0..count)
            .map(|i| shard.clone().open(layout::shard_dir(&dir, i)))
            .collect::<std::result::Result<Vec<Cache>, _>>()?;
        Ok(FanoutCache {
            inner: Arc::new(Inner {
                dir,
                hash,
                shards,
                sub: self.cache,
            }),
        })
    }
}
