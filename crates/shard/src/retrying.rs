//! [`Retrying`]: maintenance and transactions that wait out a busy lock.

use crate::cache::Cache;
use crate::codec::Key;
use crate::error::{Error, Result};

/// A view of a [`Cache`] whose maintenance and transactions do not give up
/// when another connection holds the write lock for longer than the
/// timeout: each step whose lock wait times out is tried again until it
/// gets the lock, as python-diskcache's `retry=True` does. The handle's
/// other operations keep their timeout. Other errors end the call as
/// usual.
///
/// The bulk operations (`expire`, `cull`, `evict`, `clear`) work in
/// batches of one transaction each, so that other writers get the lock
/// between batches; through this view a batch that timed out is tried
/// again rather than failing the call after the batches before it were
/// removed, and the count returned is every entry removed. A setting
/// changed through it is stored however long the lock stays busy.
///
/// Waiting has no bound but the other connection's: a transaction that
/// never ends keeps these calls waiting.
///
/// ```
/// use std::time::Duration;
/// use diskcache_shard::Cache;
///
/// let cache = Cache::builder().timeout(Duration::from_millis(10)).open_temp()?;
/// for i in 0..250 {
///     cache.set(&i, &i)?;
/// }
/// // Returns 250 even if another process holds the lock for a while.
/// assert_eq!(cache.retrying().clear()?, 250);
/// cache.retrying().set_size_limit(64 << 20)?;
/// # Ok::<(), diskcache_shard::Error>(())
/// ```
#[derive(Clone, Copy)]
#[must_use = "a view does nothing until one of its methods is called"]
pub struct Retrying<'a> {
    cache: &'a Cache,
}

impl std::fmt::Debug for Retrying<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying")
            .field("directory", &self.cache.directory())
            .finish()
    }
}

impl Cache {
    /// This cache's maintenance and transactions, waiting out a busy lock
    /// (see [`Retrying`]).
    pub fn retrying(&self) -> Retrying<'_> {
        Retrying { cache: self }
    }
}

impl Retrying<'_> {
    /// [`Cache::expire`], every batch waiting for the lock.
    pub fn expire(&self) -> Result<u64> {
        self.cache.expire_as(true)
    }

    /// [`Cache::cull`], every batch waiting for the lock.
    pub fn cull(&self) -> Result<u64> {
        self.cache.cull_as(true)
    }

    /// [`Cache::evict`], every batch waiting for the lock.
    pub fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        self.cache.evict_as(true, tag.into())
    }

    /// [`Cache::clear`], every batch waiting for the lock.
    pub fn clear(&self) -> Result<u64> {
        self.cache.clear_as(true)
    }

    /// [`Cache::set_size_limit`], waiting for the lock.
    pub fn set_size_limit(&self, bytes: u64) -> Result<()> {
        self.cache.set_size_limit_as(bytes, true)
    }

    /// [`Cache::set_cull_limit`], waiting for the lock.
    pub fn set_cull_limit(&self, entries: u64) -> Result<()> {
        self.cache.set_cull_limit_as(entries, true)
    }

    /// [`Cache::set_min_file_size`], waiting for the lock.
    pub fn set_min_file_size(&self, bytes: u64) -> Result<()> {
        self.cache.set_min_file_size_as(bytes, true)
    }

    /// [`Cache::set_statistics`], waiting for the lock.
    pub fn set_statistics(&self, on: bool) -> Result<()> {
        self.cache.set_statistics_as(on, true)
    }

    /// [`Cache::create_tag_index`], waiting for the lock.
    pub fn create_tag_index(&self) -> Result<()> {
        self.cache.set_tag_index(true, true)
    }

    /// [`Cache::drop_tag_index`], waiting for the lock.
    pub fn drop_tag_index(&self) -> Result<()> {
        self.cache.set_tag_index(false, true)
    }

    /// [`Cache::transact`], waiting for the write lock before `f` runs: a
    /// begin that timed out is tried again, and `f` runs once, when the
    /// lock is held. A timeout after `f` has run (of the commit, which in
    /// WAL mode does not wait) is returned.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// let n = cache.retrying().transact(|| {
    ///     cache.set("a", &1)?;
    ///     cache.incr("a", 1, None)
    /// })?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        /// The caller's error, or the cache's, so that a timeout of the
        /// begin is told apart from an error of `f`.
        enum Carry<E> {
            Caller(E),
            Cache(Error),
        }
        impl<E> From<Error> for Carry<E> {
            fn from(e: Error) -> Self {
                Carry::Cache(e)
            }
        }
        let mut f = Some(f);
        loop {
            let result = self.cache.transact(|| match f.take() {
                Some(f) => f().map_err(Carry::Caller),
                None => Err(Carry::Cache(Error::invalid(
                    "the transaction's closure has run already",
                ))),
            });
            match result {
                Ok(value) => return Ok(value),
                // The begin timed out: `f` has not run.
                Err(Carry::Cache(e)) if e.is_timeout() && f.is_some() => {}
                Err(Carry::Cache(e)) => return Err(E::from(e)),
                Err(Carry::Caller(e)) => return Err(e),
            }
        }
    }
}
