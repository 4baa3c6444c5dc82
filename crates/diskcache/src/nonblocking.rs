//! Async handles for tokio (feature `tokio`): [`AsyncCache`],
//! [`AsyncFanoutCache`] and [`AsyncLock`].
//!
//! Every call that touches SQLite runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), so none of them holds a runtime
//! worker while it waits for a busy lock, clears a large cache or reads a
//! value file; lock waits sleep on the runtime's timer
//! ([`tokio::time::sleep`]) between attempts.
//!
//! # Keys, values and results
//!
//! - Keys are taken by reference, as the sync API takes them, and encoded
//!   (with the cache's codec) on the calling task, before the hop to the
//!   blocking pool; only the encoded [`Key`] moves.
//! - Values are taken by value (`V: Serialize + Send + 'static`) and move
//!   into the blocking task, where they are encoded: pass an owned value,
//!   a clone, or a `&'static str`.
//! - Results are decoded on the blocking thread (`V: DeserializeOwned +
//!   Send + 'static`).
//!
//! The calls follow [`DiskCache`]'s convention on both types: a lock busy
//! past the cache's timeout is [`Error::Timeout`], `set` returns `Ok(())`
//! when stored.
//!
//! # Cancellation
//!
//! Dropping a call's future before it completes does not stop the work
//! already handed to the blocking pool: a `set` whose future was dropped
//! may still be stored. A call made outside a tokio runtime, or while the
//! runtime shuts down, is an [`Error::Io`] naming the cache directory.
//!
//! ```
//! use diskcache::nonblocking::AsyncCache;
//!
//! # fn main() -> diskcache::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
//! # let path = dir.path().to_path_buf();
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_all()
//!     .build()
//!     .map_err(|e| diskcache::Error::io("runtime", e))?;
//! runtime.block_on(async {
//!     let cache = AsyncCache::open(path).await?;
//!     cache.set("answer", 42).await?;
//!     assert_eq!(cache.get::<i64>("answer").await?, Some(42));
//!     assert_eq!(cache.clear().await?, 1);
//!     Ok(())
//! })
//! # }
//! ```

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, Entry, Error, Key, Result, SetOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DiskCache;

mod sealed {
    /// Keeps [`Backend`](super::Backend) to this crate's handle types.
    pub trait Sealed {}
    impl Sealed for diskcache_shard::Cache {}
    impl Sealed for diskcache_fanout::FanoutCache {}
}

/// A sync handle an async handle can wrap: [`Cache`] or [`FanoutCache`]
/// (sealed).
pub trait Backend: DiskCache + sealed::Sealed {
    /// `key` as this cache stores it (its codec's encoding), so that the
    /// encoded form can move to another thread and still find its entry.
    fn stored_key(&self, key: &(impl Serialize + ?Sized)) -> Result<Key>;
}

impl Backend for Cache {
    fn stored_key(&self, key: &(impl Serialize + ?Sized)) -> Result<Key> {
        self.encode_key(key)
    }
}

impl Backend for FanoutCache {
    fn stored_key(&self, key: &(impl Serialize + ?Sized)) -> Result<Key> {
        // Every shard of a fanout cache has the same codec.
        match self.shards().first() {
            Some(shard) => shard.encode_key(key),
            None => Key::from_value(key),
        }
    }
}

/// Runs `job` on the blocking pool of the current tokio runtime and waits
/// for it without holding a worker. A panic in `job` resumes on the
/// caller; no runtime, or a runtime shutting down, is [`Error::Io`] naming
/// `directory`.
async fn on_blocking_pool<T, E>(
    directory: &Path,
    job: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
) -> std::result::Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let not_run = |message: String| E::from(Error::io(directory, io::Error::other(message)));
    let handle = tokio::runtime::Handle::try_current().map_err(|e| not_run(e.to_string()))?;
    match handle.spawn_blocking(job).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(not_run(format!("the blocking task did not run: {e}"))),
    }
}

/// An async handle on a [`Cache`] or a [`FanoutCache`]: the
/// [`DiskCache`] surface as `async fn`s whose SQLite work runs on tokio's
/// blocking pool (see the [module docs](self)). A cheap clone, `Send`,
/// `Sync` and `'static`, like the handle it wraps.
///
/// ```
/// use std::time::Duration;
/// use diskcache::SetOptions;
/// use diskcache::nonblocking::AsyncFanoutCache;
///
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
/// # let path = dir.path().to_path_buf();
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
/// #     .map_err(|e| diskcache::Error::io("runtime", e))?;
/// runtime.block_on(async {
///     let cache = AsyncFanoutCache::open(path).await?;
///     cache.set_with("session", "token", SetOptions::new().expire(Duration::from_secs(60))).await?;
///     assert!(cache.contains("session").await?);
///     assert_eq!(cache.incr("hits", 1, Some(0)).await?, 1);
///     let n = cache.transact(|c| {
///         // The sync handle, on the blocking thread, inside one transaction.
///         c.set("a", &1)?;
///         c.set("b", &2)?;
///         c.len()
///     }).await?;
///     assert_eq!(n, 4);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncDiskCache<S: Backend> {
    inner: S,
}

/// An async [`Cache`].
pub type AsyncCache = AsyncDiskCache<Cache>;

/// An async [`FanoutCache`].
pub type AsyncFanoutCache = AsyncDiskCache<FanoutCache>;

impl AsyncDiskCache<Cache> {
    /// Opens (or creates) the cache in `directory` with default settings,
    /// on the blocking pool (opening may wait for the database's lock).
    pub async fn open(directory: impl Into<PathBuf>) -> Result<Self> {
        let directory = directory.into();
        let path = directory.clone();
        on_blocking_pool(&directory, move || Cache::open(path))
            .await
            .map(Self::new)
    }
}

impl AsyncDiskCache<FanoutCache> {
    /// Opens (or creates) the fanout cache in `directory` with default
    /// settings, on the blocking pool.
    pub async fn open(directory: impl Into<PathBuf>) -> Result<Self> {
        let directory = directory.into();
        let path = directory.clone();
        on_blocking_pool(&directory, move || FanoutCache::open(path))
            .await
            .map(Self::new)
    }
}

impl<S: Backend> From<S> for AsyncDiskCache<S> {
    fn from(inner: S) -> Self {
        Self::new(inner)
    }
}

impl<S: Backend> AsyncDiskCache<S> {
    /// The async handle on `cache` (open one with its builder, on a
    /// blocking thread if opening may wait).
    pub fn new(cache: S) -> Self {
        AsyncDiskCache { inner: cache }
    }

    /// The sync handle, for calls that do not wait (or from a blocking
    /// thread).
    pub fn sync(&self) -> &S {
        &self.inner
    }

    /// The sync handle, consuming this one.
    pub fn into_sync(self) -> S {
        self.inner
    }

    /// The cache directory.
    pub fn directory(&self) -> &Path {
        self.inner.directory()
    }

    /// Runs `job` with a clone of the sync handle on the blocking pool.
    async fn run<T, E>(
        &self,
        job: impl FnOnce(S) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let cache = self.inner.clone();
        on_blocking_pool(self.inner.directory(), move || job(cache)).await
    }

    /// Runs `job` with the sync handle and `key` encoded on this task.
    async fn run_keyed<T: Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        job: impl FnOnce(S, Key) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let key = self.inner.stored_key(key)?;
        self.run(move |cache| job(cache, key)).await
    }

    /// The value under `key`; `None` when absent or expired
    /// ([`DiskCache::get`]).
    pub async fn get<V: DeserializeOwned + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        self.run_keyed(key, |c, k| c.get(&k)).await
    }

    /// The value with its expiry time and tag ([`DiskCache::get_entry`]).
    pub async fn get_entry<V: DeserializeOwned + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        self.run_keyed(key, |c, k| c.get_entry(&k)).await
    }

    /// Whether `key` is present and not expired.
    pub async fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        self.run_keyed(key, |c, k| c.contains(&k)).await
    }

    /// Stores `value` under `key`, replacing any previous value;
    /// [`Error::Timeout`] when the lock stayed busy.
    pub async fn set<V: Serialize + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        value: V,
    ) -> Result<()> {
        self.run_keyed(key, move |c, k| c.set(&k, &value)).await
    }

    /// [`set`](Self::set) with an expiry and/or tag.
    pub async fn set_with<V: Serialize + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        value: V,
        opts: SetOptions,
    ) -> Result<()> {
        self.run_keyed(key, move |c, k| c.set_with(&k, &value, &opts))
            .await
    }

    /// Stores `value` only if `key` is absent (or expired); whether it was
    /// stored.
    pub async fn add<V: Serialize + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        value: V,
    ) -> Result<bool> {
        self.run_keyed(key, move |c, k| c.add(&k, &value)).await
    }

    /// [`add`](Self::add) with an expiry and/or tag.
    pub async fn add_with<V: Serialize + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        value: V,
        opts: SetOptions,
    ) -> Result<bool> {
        self.run_keyed(key, move |c, k| c.add_with(&k, &value, &opts))
            .await
    }

    /// Removes `key`; whether it was present.
    pub async fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        self.run_keyed(key, |c, k| c.delete(&k)).await
    }

    /// Sets a new expiry (`None`: never) on a present entry; whether it was
    /// present.
    pub async fn touch(
        &self,
        key: &(impl Serialize + ?Sized),
        expire: Option<Duration>,
    ) -> Result<bool> {
        self.run_keyed(key, move |c, k| c.touch(&k, expire)).await
    }

    /// Removes `key` and returns its value.
    pub async fn pop<V: DeserializeOwned + Send + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        self.run_keyed(key, |c, k| c.pop(&k)).await
    }

    /// Adds `delta` to the integer under `key` atomically; the new value
    /// (see [`DiskCache::incr`]).
    pub async fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        self.run_keyed(key, move |c, k| c.incr(&k, delta, default))
            .await
    }

    /// Subtracts `delta`; see [`incr`](Self::incr).
    pub async fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        self.run_keyed(key, move |c, k| c.decr(&k, delta, default))
            .await
    }

    /// The number of entries.
    pub async fn len(&self) -> Result<u64> {
        self.run(|c| c.len()).await
    }

    /// Whether there are no entries.
    pub async fn is_empty(&self) -> Result<bool> {
        self.run(|c| c.is_empty()).await
    }

    /// Bytes on disk: the database and the value files.
    pub async fn volume(&self) -> Result<u64> {
        self.run(|c| c.volume()).await
    }

    /// Removes every entry; how many.
    pub async fn clear(&self) -> Result<u64> {
        self.run(|c| c.clear()).await
    }

    /// Removes the expired entries; how many.
    pub async fn expire(&self) -> Result<u64> {
        self.run(|c| c.expire()).await
    }

    /// Removes expired entries, then entries in eviction order until the
    /// volume is under the size limit; how many.
    pub async fn cull(&self) -> Result<u64> {
        self.run(|c| c.cull()).await
    }

    /// Removes the entries tagged `tag`; how many.
    pub async fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        let tag = tag.into();
        self.run(move |c| c.evict(tag)).await
    }

    /// Runs `f` on the blocking pool as one transaction over the whole
    /// cache ([`DiskCache::transact`]); `f` gets the sync handle.
    pub async fn transact<T, E>(
        &self,
        f: impl FnOnce(&S) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(move |c| c.transact(|| f(&c))).await
    }

    /// Runs `f` on the blocking pool as one transaction on the lock of
    /// `key`'s shard ([`DiskCache::transact_on`]).
    pub async fn transact_on<T, E>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce(&S) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let key = self.inner.stored_key(key)?;
        self.run(move |c| c.transact_on(&key, || f(&c))).await
    }

    /// The value under `key`, or what `f` computes, stored and returned.
    /// The computation runs on the calling task (it may await); the reads
    /// and the write run on the blocking pool. Two callers that miss at
    /// once both compute, and both return the value stored first (for one
    /// computation per key, see [`AsyncLock::get_or_insert_with`]).
    ///
    /// ```
    /// use diskcache::nonblocking::AsyncCache;
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
    /// # let path = dir.path().to_path_buf();
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
    /// #     .map_err(|e| diskcache::Error::io("runtime", e))?;
    /// runtime.block_on(async {
    ///     let cache = AsyncCache::open(path).await?;
    ///     let page: String = cache.get_or_insert_with("home", || async { "<html>".to_string() }).await?;
    ///     let again: String = cache.get_or_insert_with("home", || async { unreachable!() }).await?;
    ///     assert_eq!(page, again);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn get_or_insert_with<V, F, Fut>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: F,
    ) -> Result<V>
    where
        V: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        self.try_get_or_insert_with(key, || async { Ok::<V, Error>(f().await) })
            .await
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with) for a computation
    /// that can fail: its error is returned, and nothing is stored.
    pub async fn try_get_or_insert_with<V, E, F, Fut>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: F,
    ) -> std::result::Result<V, E>
    where
        V: Serialize + DeserializeOwned + Send + 'static,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<V, E>>,
    {
        let key = self.inner.stored_key(key)?;
        let lookup = key.clone();
        if let Some(value) = self.run(move |c| c.get::<V>(&lookup)).await? {
            return Ok(value);
        }
        let value = f().await?;
        let stored = self
            .run(move |c| -> Result<V> {
                if c.add(&key, &value)? {
                    return Ok(value);
                }
                // Another caller stored a value meanwhile: return that
                // one, so that every caller sees the same.
                Ok(c.get(&key)?.unwrap_or(value))
            })
            .await?;
        Ok(stored)
    }
}

/// Pause between attempts while waiting for an [`AsyncLock`].
const POLL: Duration = Duration::from_millis(1);

/// A token no other acquisition shares.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}:async:{nanos}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The options a hold is stored with: its own expiry, or none (a cache's
/// default time to live must not end a hold behind its holder's back).
fn hold_options(expire: Option<Duration>) -> SetOptions {
    match expire {
        Some(d) => SetOptions::new().expire(d),
        None => SetOptions::new().never_expire(),
    }
}

/// A mutual-exclusion lock shared by every task, thread and process that
/// uses the same cache and name; waits sleep on tokio's timer.
///
/// It is stored as [`recipes::Lock`](crate::recipes::Lock) stores its
/// hold (one entry under the name, holding the holder's token), so an
/// `AsyncLock` and a sync `Lock` of the same name exclude each other.
///
/// ```
/// use std::time::Duration;
/// use diskcache::nonblocking::{AsyncCache, AsyncLock};
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
/// # let path = dir.path().to_path_buf();
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
/// #     .map_err(|e| diskcache::Error::io("runtime", e))?;
/// runtime.block_on(async {
///     let cache = AsyncCache::open(path).await?;
///     let lock = AsyncLock::new(cache, "nightly-report").expire(Duration::from_secs(600));
///     let guard = lock.acquire_timeout(Duration::from_secs(5)).await?;
///     assert!(lock.locked().await?);
///     assert!(lock.try_acquire().await?.is_none());
///     guard.release().await?;
///     assert!(!lock.locked().await?);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncLock<S: Backend> {
    cache: AsyncDiskCache<S>,
    key: Key,
    expire: Option<Duration>,
}

impl<S: Backend> AsyncLock<S> {
    /// The lock named `name` in `cache`.
    pub fn new(cache: impl Into<AsyncDiskCache<S>>, name: &str) -> Self {
        AsyncLock {
            cache: cache.into(),
            key: Key::Text(name.to_string()),
            expire: None,
        }
    }

    /// A holder keeps the lock at most this long. Default = until released.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        match &self.key {
            Key::Text(name) => name,
            _ => "",
        }
    }

    /// Takes the lock if it is free.
    pub async fn try_acquire(&self) -> Result<Option<AsyncLockGuard<S>>> {
        let token = token();
        let held = token.clone();
        let key = self.key.clone();
        let opts = hold_options(self.expire);
        let taken = self
            .cache
            .run(move |c| c.add_with(&key, &held, &opts))
            .await?;
        Ok(taken.then(|| AsyncLockGuard {
            cache: self.cache.inner.clone(),
            key: self.key.clone(),
            token,
            released: false,
        }))
    }

    /// Takes the lock, waiting as long as it takes.
    pub async fn acquire(&self) -> Result<AsyncLockGuard<S>> {
        self.wait(None).await
    }

    /// Takes the lock, waiting at most `timeout` ([`Error::WaitTimeout`]).
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<AsyncLockGuard<S>> {
        self.wait(Some(timeout)).await
    }

    async fn wait(&self, timeout: Option<Duration>) -> Result<AsyncLockGuard<S>> {
        let started = Instant::now();
        loop {
            match self.try_acquire().await {
                Ok(Some(guard)) => return Ok(guard),
                Ok(None) => {}
                // The cache's own lock stayed busy: as good as "not free".
                Err(Error::Timeout { .. }) => {}
                Err(e) => return Err(e),
            }
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                return Err(Error::WaitTimeout {
                    name: self.name().to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether anyone holds the lock.
    pub async fn locked(&self) -> Result<bool> {
        let key = self.key.clone();
        self.cache
            .run(move |c| Ok(c.get_entry::<String>(&key)?.is_some()))
            .await
    }

    /// The value under `key` in the lock's cache, or what `f` computes,
    /// computed by one caller at a time: a caller that misses takes the
    /// lock (waiting on the runtime's timer), looks again, and only then
    /// computes and stores, so concurrent callers (in this process or
    /// others) compute once and the others return the stored value.
    /// Give the lock an [`expire`](Self::expire) longer than a
    /// computation, so that a crashed holder does not block the others
    /// for ever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache::nonblocking::{AsyncCache, AsyncLock};
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
    /// # let path = dir.path().to_path_buf();
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
    /// #     .map_err(|e| diskcache::Error::io("runtime", e))?;
    /// runtime.block_on(async {
    ///     let cache = AsyncCache::open(path).await?;
    ///     let lock = AsyncLock::new(cache, "report-lock").expire(Duration::from_secs(60));
    ///     let report: u64 = lock.get_or_insert_with("report", || async { 42 }).await?;
    ///     assert_eq!(report, 42);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn get_or_insert_with<V, F, Fut>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: F,
    ) -> Result<V>
    where
        V: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        if let Some(value) = self.cache.get::<V>(key).await? {
            return Ok(value);
        }
        let guard = self.acquire().await?;
        let result = match self.cache.get::<V>(key).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => {
                let value = f().await;
                let stored = self.cache.inner.stored_key(key)?;
                self.cache
                    .run(move |c| c.set(&stored, &value).map(|()| value))
                    .await
            }
            Err(e) => Err(e),
        };
        // A hold that expired during a long computation is not an error
        // here: the value is stored either way.
        match guard.release().await {
            Ok(()) | Err(Error::NotHeld { .. }) => result,
            Err(e) => result.and(Err(e)),
        }
    }
}

/// A hold of an [`AsyncLock`]: `'static` and `Send`, so it can move
/// between tasks. [`release`](Self::release) gives the lock back and
/// reports whether it was still held; dropping the guard instead gives it
/// back in the background, on the blocking pool when dropped inside a
/// tokio runtime (the release is a write, which may wait for the cache's
/// lock), on the dropping thread otherwise; a failure is then ignored.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct AsyncLockGuard<S: Backend> {
    cache: S,
    key: Key,
    token: String,
    released: bool,
}

/// Deletes the hold `token` has on `key`; [`Error::NotHeld`] when it has
/// none (it expired, or someone else holds the lock now).
fn give_back<S: Backend>(cache: &S, key: &Key, token: &str) -> Result<()> {
    cache.transact_on(key, || match cache.get_entry::<String>(key)? {
        Some(e) if e.value == token => {
            cache.delete(key)?;
            Ok(())
        }
        _ => Err(Error::NotHeld {
            name: match key {
                Key::Text(name) => name.clone(),
                other => format!("{other:?}"),
            },
        }),
    })
}

impl<S: Backend> AsyncLockGuard<S> {
    /// Gives the lock back now, on the blocking pool; [`Error::NotHeld`]
    /// when the hold had expired.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        let cache = self.cache.clone();
        let key = self.key.clone();
        let token = std::mem::take(&mut self.token);
        let directory = cache.directory().to_path_buf();
        on_blocking_pool(&directory, move || give_back(&cache, &key, &token)).await
    }
}

impl<S: Backend> Drop for AsyncLockGuard<S> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let cache = self.cache.clone();
        let key = self.key.clone();
        let token = std::mem::take(&mut self.token);
        let job = move || {
            let _ = give_back(&cache, &key, &token);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                drop(handle.spawn_blocking(job));
            }
            Err(_) => job(),
        }
    }
}
