//! [`FanoutCache`]: the handle and the operations routed to one shard.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use diskcache_shard::{Cache, CacheBuilder, Entry, Key, SetOptions, Side, ValueBytes};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::FanoutBuilder;
use crate::error::{Error, Result};
use crate::layout::{self, ShardHash};

/// A disk cache spread over N independent shards (`000/`, `001/`, … of one
/// directory). A key lives in shard `hash(key) mod N`, so writers to
/// different shards never wait for each other, and each shard culls its own
/// share of the size limit.
///
/// **Timeouts.** Where a [`Cache`] returns [`diskcache_shard::Error::Timeout`],
/// a `FanoutCache` reports "not stored": writes return `false` (or `None`),
/// reads return a miss. With a short timeout this bounds every call's
/// latency, which is what a web service under load wants; with the shards'
/// `retry` option set, writes wait instead. The operations over every
/// shard (`clear`, `expire`, `evict`, `cull`, the setting changes) and
/// [`transact`](Self::transact) never stop at a busy shard: they wait it
/// out, so that they finish on every shard. Opening waits by the shards'
/// [`CacheBuilder::open_timeout`], not by their timeout, and only when it
/// has something to write. Under contention a shard
/// restarts its write-ahead log about once every 8000 log frames (some
/// 2000 small sets), holding its write lock for a few milliseconds (5-10 ms
/// measured here); a timeout shorter than that reports "not stored" then.
///
/// ```
/// use diskcache_fanout::FanoutCache;
/// let dir = tempfile::tempdir()?;
/// let cache = FanoutCache::open(dir.path())?;
/// assert!(cache.set("k", "v")?);
/// assert_eq!(cache.get::<String>("k")?.as_deref(), Some("v"));
/// assert_eq!(cache.len()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FanoutCache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) hash: ShardHash,
    pub(crate) shards: Vec<Cache>,
    /// The shard settings, for named sub-caches.
    pub(crate) sub: CacheBuilder,
}

/// The directory, the shard count and hash, and the shards' settings
/// summary (of the first shard; all share them).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let cache = diskcache_fanout::FanoutCache::builder().shards(3).open(dir.path())?;
/// let shown = format!("{cache:?}");
/// assert!(shown.starts_with("FanoutCache { directory: "));
/// assert!(shown.contains("shards: 3"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::fmt::Debug for FanoutCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        let mut s = f.debug_struct("FanoutCache");
        s.field("directory", &inner.dir)
            .field("shards", &inner.shards.len())
            .field("hash", &inner.hash);
        if let Some(first) = inner.shards.first() {
            let settings = first.settings();
            s.field("shard_size_limit", &settings.size_limit)
                .field("eviction_policy", &settings.eviction_policy);
        }
        s.finish_non_exhaustive()
    }
}

/// A shard result with a busy lock turned into `fallback`.
fn or_timeout<T>(result: diskcache_shard::Result<T>, fallback: T) -> Result<T> {
    match result {
        Err(e) if e.is_timeout() => Ok(fallback),
        other => Ok(other?),
    }
}

impl FanoutCache {
    /// A builder to choose the shard count, hash and shard settings.
    pub fn builder() -> FanoutBuilder {
        FanoutBuilder::new()
    }

    /// Opens the fanout cache in `dir` with recorded (or default) settings.
    pub fn open(dir: impl AsRef<Path>) -> Result<FanoutCache> {
        FanoutBuilder::new().open(dir)
    }

    /// The cache directory.
    pub fn directory(&self) -> &Path {
        &self.inner.dir
    }

    /// The shards, in order.
    pub fn shards(&self) -> &[Cache] {
        &self.inner.shards
    }

    /// The hash that assigns keys to shards.
    pub fn shard_hash(&self) -> ShardHash {
        self.inner.hash
    }

    /// The shard that holds `key`: the hash of the key as the shards'
    /// codec stores it (as python's FanoutCache hashes what its `Disk`
    /// stores).
    pub fn shard_for<K: Serialize + ?Sized>(&self, key: &K) -> Result<&Cache> {
        let key = match self.inner.shards.first() {
            Some(shard) => shard.encode_key(key)?,
            None => Key::from_value(key)?,
        };
        let index = self.inner.hash.shard_of(&key, self.inner.shards.len());
        Ok(&self.inner.shards[index])
    }

    /// The shard that holds the queue `prefix`.
    fn queue_shard(&self, prefix: Option<&str>) -> Result<&Cache> {
        self.shard_for(prefix.unwrap_or(""))
    }

    /// Stores `value` under `key`; `false` when the shard stayed locked.
    pub fn set<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<bool> {
        self.set_with(key, value, &SetOptions::default())
    }

    /// [`set`](FanoutCache::set) with an expiry and/or tag.
    pub fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        or_timeout(
            self.shard_for(key)?
                .set_with(key, value, opts)
                .map(|()| true),
            false,
        )
    }

    /// Streams `reader` into a value file stored under `key`; the byte
    /// count, or `None` when the shard stayed locked.
    pub fn set_reader<K: Serialize + ?Sized>(
        &self,
        key: &K,
        reader: &mut dyn Read,
        opts: &SetOptions,
    ) -> Result<Option<u64>> {
        or_timeout(
            self.shard_for(key)?.set_reader(key, reader, opts).map(Some),
            None,
        )
    }

    /// Stores `value` only if `key` is absent; `false` when present or when
    /// the shard stayed locked.
    pub fn add<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<bool> {
        self.add_with(key, value, &SetOptions::default())
    }

    /// [`add`](FanoutCache::add) with an expiry and/or tag.
    pub fn add_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        or_timeout(self.shard_for(key)?.add_with(key, value, opts), false)
    }

    /// The value under `key`; `None` when absent, expired, or the shard
    /// stayed locked.
    pub fn get<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        or_timeout(self.shard_for(key)?.get(key), None)
    }

    /// The value with its expiry time and tag.
    pub fn get_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        or_timeout(self.shard_for(key)?.get_entry(key), None)
    }

    /// The value's bytes, memory-mapped when file-backed (see [`Cache::read`]).
    pub fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>> {
        or_timeout(self.shard_for(key)?.read(key), None)
    }

    /// Whether `key` is present and not expired.
    pub fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        or_timeout(self.shard_for(key)?.contains(key), false)
    }

    /// Sets a new expiry on a present entry.
    pub fn touch(&self, key: &(impl Serialize + ?Sized), expire: Option<Duration>) -> Result<bool> {
        or_timeout(self.shard_for(key)?.touch(key, expire), false)
    }

    /// Removes `key`; whether it was present.
    pub fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        or_timeout(self.shard_for(key)?.delete(key), false)
    }

    /// Removes `key` and returns its value.
    pub fn pop<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        or_timeout(self.shard_for(key)?.pop(key), None)
    }

    /// Removes `key` and returns its value with its expiry time and tag
    /// (see [`Cache::pop_entry`]); `None` when absent, expired, or the shard
    /// stayed locked.
    ///
    /// ```
    /// use diskcache_shard::{Key, SetOptions};
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::open(dir.path())?;
    /// cache.set_with("k", &1, &SetOptions::new().tag("t"))?;
    /// let entry = cache.pop_entry::<i64>("k")?.expect("present");
    /// assert_eq!((entry.value, entry.tag), (1, Some(Key::Text("t".into()))));
    /// assert!(cache.pop_entry::<i64>("k")?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        or_timeout(self.shard_for(key)?.pop_entry(key), None)
    }

    /// Adds `delta` atomically (see [`Cache::incr`]); `None` when the shard
    /// stayed locked.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::open(dir.path())?;
    /// assert_eq!(cache.incr("n", 2, Some(0))?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<Option<i64>> {
        or_timeout(
            self.shard_for(key)?.incr(key, delta, default).map(Some),
            None,
        )
    }

    /// Subtracts `delta`; see [`incr`](FanoutCache::incr).
    pub fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<Option<i64>> {
        or_timeout(
            self.shard_for(key)?.decr(key, delta, default).map(Some),
            None,
        )
    }

    /// Pushes onto the queue `prefix`, which lives whole in one shard (the
    /// one its prefix hashes to); the new key, or `None` when that shard
    /// stayed locked.
    pub fn push<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<Key>> {
        self.push_with(value, prefix, side, &SetOptions::default())
    }

    /// [`push`](FanoutCache::push) with an expiry and/or tag.
    pub fn push_with<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
        opts: &SetOptions,
    ) -> Result<Option<Key>> {
        or_timeout(
            self.queue_shard(prefix)?
                .push_with(value, prefix, side, opts)
                .map(Some),
            None,
        )
    }

    /// Removes and returns the item at `side` of the queue `prefix`.
    pub fn pull<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        or_timeout(self.queue_shard(prefix)?.pull(prefix, side), None)
    }

    /// Returns the item at `side` of the queue `prefix` without removing it.
    pub fn peek<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        or_timeout(self.queue_shard(prefix)?.peek(prefix, side), None)
    }

    /// [`pull`](FanoutCache::pull) with the item's expiry time and tag (see
    /// [`Cache::pull_entry`]); `None` when the queue is empty or its shard
    /// stayed locked.
    ///
    /// ```
    /// use diskcache_shard::{Key, SetOptions, Side};
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::open(dir.path())?;
    /// cache.push_with(&"job", Some("q"), Side::Back, &SetOptions::new().tag("t"))?;
    /// let (key, entry) = cache.pull_entry::<String>(Some("q"), Side::Front)?.expect("queued");
    /// assert_eq!(key, Key::Text("q-500000000000000".into()));
    /// assert_eq!((entry.value.as_str(), entry.tag), ("job", Some(Key::Text("t".into()))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pull_entry<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, Entry<V>)>> {
        or_timeout(self.queue_shard(prefix)?.pull_entry(prefix, side), None)
    }

    /// [`peek`](FanoutCache::peek) with the item's expiry time and tag (see
    /// [`Cache::peek_entry`]); `None` when the queue is empty or its shard
    /// stayed locked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::{SetOptions, Side};
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::open(dir.path())?;
    /// let opts = SetOptions::new().expire(Duration::from_secs(60));
    /// cache.push_with(&5, None, Side::Back, &opts)?;
    /// let (_, entry) = cache.peek_entry::<i64>(None, Side::Back)?.expect("queued");
    /// assert_eq!(entry.value, 5);
    /// assert!(entry.expire_time.is_some());
    /// assert_eq!(cache.len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peek_entry<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, Entry<V>)>> {
        or_timeout(self.queue_shard(prefix)?.peek_entry(prefix, side), None)
    }

    /// Runs `f` as one unit over every shard: all shards are locked, always
    /// in shard order (so two transactions cannot deadlock), for the whole
    /// call. A shard whose lock another writer holds is waited for, past
    /// the timeout, until it is free (python-diskcache's fanout transaction
    /// waits too); `f` runs once, when every lock is held. Operations of this cache inside `f` join the transaction: no
    /// other reader or writer sees any of them before `f` returns, and if
    /// `f` fails, none is kept.
    ///
    /// Each shard is its own database, so the shards commit one after the
    /// other, the last shard first: for that moment a reader may find some
    /// shards' writes and not yet the others'. A crash (or an I/O error)
    /// between two of those commits keeps the writes of the shards already
    /// committed and loses the others: every shard stays consistent, but
    /// the transaction is not atomic across shards then (SQLite's own
    /// transactions over attached databases in WAL mode are not either). Writes that must
    /// stand or fall together across a crash belong on one shard: a
    /// [`Cache::transact`] on [`shard_for`](Self::shard_for) the key, or a
    /// named [`cache`](Self::cache).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_fanout::FanoutCache::builder().shards(3).open(dir.path())?;
    /// cache.transact(|| {
    ///     for i in 0..10 {
    ///         cache.set(&i, &i)?;
    ///     }
    ///     Ok::<_, diskcache_fanout::Error>(())
    /// })?;
    /// assert_eq!(cache.len()?, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        /// Carries the caller's error through the shards' transactions.
        enum Carry<E> {
            Caller(E),
            Shard(Error),
        }
        impl<E> From<Error> for Carry<E> {
            fn from(e: Error) -> Self {
                Carry::Shard(e)
            }
        }
        // Each shard waits for its lock (holding the shards before it),
        // however long another writer keeps it: the lock order rules out a
        // deadlock with another fanout transaction.
        fn nest<T, E>(shards: &[Cache], f: impl FnOnce() -> Result<T, E>) -> Result<T, Carry<E>> {
            match shards.split_first() {
                None => f().map_err(Carry::Caller),
                Some((first, rest)) => first.retrying().transact(|| nest(rest, f)),
            }
        }
        nest(&self.inner.shards, f).map_err(|e| match e {
            Carry::Caller(e) => e,
            Carry::Shard(e) => E::from(e),
        })
    }

    /// The cache named `name`, in `<dir>/cache/<name>`, with the shards'
    /// settings (as python-diskcache places it).
    pub fn cache(&self, name: &str) -> Result<Cache> {
        let dir = layout::sub_dir(&self.inner.dir, "cache", name)?;
        self.inner.sub.clone().open(dir)
    }
}
