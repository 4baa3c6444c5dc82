//! [`DiskCache`]: the surface [`Cache`] and [`FanoutCache`] share, with one
//! convention for a lock that stays busy.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, Entry, Error, Key, Result, SetOptions, Side, ValueBytes};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a [`Cache`] and a [`FanoutCache`] both do, for code generic over
/// the two (the [`recipes`](crate::recipes) are written on it).
///
/// # Not stored in time: `Err(Error::Timeout)`, on every call
///
/// Every method returns [`Result`], and a call that needs the write lock
/// of a cache (or of a shard) that another connection holds for longer
/// than the cache's [`timeout`](crate::CacheBuilder::timeout) is
/// `Err(`[`Error::Timeout`]`)` ([`Error::is_timeout`]) and changed
/// nothing of what it was asked to do, on both types alike: per-key calls
/// (`set`, `add`, `delete`, `incr`, …), bulk calls (`clear`, `expire`,
/// `cull`, `evict`) and transactions. On a `FanoutCache` a bulk call runs
/// on every shard and returns the timeout after the other shards are done
/// (those keep what was done, as a [`Cache::clear`] that stops between
/// two of its batches does). Reads (`get`, `get_entry`, `contains`,
/// `read`, `len`, `volume`) never wait for writers, so they answer while a
/// writer holds the lock; `peek` removes expired items at the head of its
/// queue, so it waits as a write does.
///
/// The success values mean the same on both types: `set` returned `Ok(())`
/// = stored, `add` `Ok(false)` = the key was present, `incr` the new
/// value, `get` `Ok(None)` = absent or expired.
///
/// This is a [`Cache`]'s own behaviour. A [`FanoutCache`]'s inherent
/// methods keep python-diskcache's lenient form (a busy shard makes `set`
/// return `Ok(false)`, `get` a miss, and its `clear` wait the shard out):
/// with both in scope, method syntax on a `FanoutCache` picks the
/// inherent method; write `DiskCache::set(&fanout, …)`, or go through a
/// generic parameter, for this trait's.
///
/// ```
/// use diskcache::{Cache, DiskCache, FanoutCache, Result};
///
/// /// Counts a page view in any cache.
/// fn view(cache: &impl DiskCache, page: &str) -> Result<i64> {
///     cache.incr(&("views", page), 1, Some(0))
/// }
///
/// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
/// let single = Cache::open(dir.path().join("single"))?;
/// let fanout = FanoutCache::open(dir.path().join("fanout"))?;
/// assert_eq!(view(&single, "/")?, 1);
/// assert_eq!(view(&fanout, "/")?, 1);
/// assert_eq!(view(&fanout, "/")?, 2);
/// # Ok::<(), diskcache::Error>(())
/// ```
pub trait DiskCache: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The cache directory.
    fn directory(&self) -> &Path;

    /// The value under `key`; `None` when absent or expired.
    fn get<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>>;

    /// The value with its expiry time and tag.
    fn get_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>>;

    /// The value's bytes, memory-mapped when file-backed (see
    /// [`Cache::read`]).
    fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>>;

    /// Whether `key` is present and not expired.
    fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool>;

    /// Stores `value` under `key`, replacing any previous value.
    fn set<K: Serialize + ?Sized, V: Serialize + ?Sized>(&self, key: &K, value: &V) -> Result<()> {
        self.set_with(key, value, &SetOptions::default())
    }

    /// [`set`](DiskCache::set) with an expiry and/or tag.
    fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<()>;

    /// Streams `reader` into a value file stored under `key`; the byte
    /// count.
    fn set_reader<K: Serialize + ?Sized>(
        &self,
        key: &K,
        reader: &mut dyn Read,
        opts: &SetOptions,
    ) -> Result<u64>;

    /// Stores `value` only if `key` is absent (or expired); whether it was
    /// stored.
    fn add<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<bool> {
        self.add_with(key, value, &SetOptions::default())
    }

    /// [`add`](DiskCache::add) with an expiry and/or tag.
    fn add_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool>;

    /// Removes `key`; whether it was present.
    fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool>;

    /// Sets a new expiry (`None`: never) on a present entry; whether it was
    /// present.
    fn touch(&self, key: &(impl Serialize + ?Sized), expire: Option<Duration>) -> Result<bool>;

    /// Removes `key` and returns its value.
    fn pop<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>>;

    /// Adds `delta` to the integer under `key` atomically and returns the
    /// new value; an absent key starts from `default`, or is
    /// [`Error::NotFound`] without one (see [`Cache::incr`]).
    fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64>;

    /// Subtracts `delta`; see [`incr`](DiskCache::incr).
    fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64>;

    /// Pushes `value` onto the queue `prefix` (see [`Cache::push`]); the
    /// new key.
    fn push<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Key> {
        self.push_with(value, prefix, side, &SetOptions::default())
    }

    /// [`push`](DiskCache::push) with an expiry and/or tag.
    fn push_with<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
        opts: &SetOptions,
    ) -> Result<Key>;

    /// Removes and returns the item at `side` of the queue `prefix`.
    fn pull<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>>;

    /// The item at `side` of the queue `prefix`, left in place.
    fn peek<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>>;

    /// The number of entries (expired ones included until they are culled).
    fn len(&self) -> Result<u64>;

    /// Whether there are no entries.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Bytes on disk: the database and the value files.
    fn volume(&self) -> Result<u64>;

    /// Removes every entry; how many.
    fn clear(&self) -> Result<u64>;

    /// Removes the expired entries; how many.
    fn expire(&self) -> Result<u64>;

    /// Removes expired entries, then entries in eviction order until the
    /// volume is under the size limit; how many.
    fn cull(&self) -> Result<u64>;

    /// Removes the entries tagged `tag`; how many.
    fn evict(&self, tag: impl Into<Key>) -> Result<u64>;

    /// Runs `f` as one unit over the whole cache: no other writer's change
    /// comes between its operations, and none of them is kept if it fails
    /// (see [`Cache::transact`]; on a [`FanoutCache`], every shard is
    /// locked, in shard order, for the call, and the shards commit one
    /// after the other, see [`FanoutCache::transact`]).
    fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>;

    /// Runs `f` atomically with respect to every other writer of `key`:
    /// the whole [`Cache`], or only the shard of a [`FanoutCache`] that
    /// holds `key` (other keys' operations inside `f` may then fall
    /// outside the transaction). What read-modify-write of one key needs,
    /// at the cost of one shard's lock.
    fn transact_on<T, E: From<Error>>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>;

    /// The value under `key`, or `f()` stored and returned. `f` runs
    /// outside any lock; when two callers miss at once, both compute and
    /// the first to store wins: every caller returns the stored value.
    ///
    /// ```
    /// use diskcache::{Cache, DiskCache};
    /// let cache = Cache::builder().open_temp()?;
    /// let v: u32 = cache.get_or_insert_with("answer", || 42)?;
    /// assert_eq!(v, 42);
    /// let again: u32 = cache.get_or_insert_with("answer", || unreachable!())?;
    /// assert_eq!(again, 42);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    fn get_or_insert_with<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce() -> V,
    ) -> Result<V> {
        self.try_get_or_insert_with(key, || Ok::<_, Error>(f()))
    }

    /// [`get_or_insert_with`](DiskCache::get_or_insert_with) for a
    /// computation that can fail: its error is returned, and nothing is
    /// stored.
    ///
    /// ```
    /// use diskcache::{Cache, DiskCache, Error};
    ///
    /// #[derive(Debug)]
    /// enum AppError {
    ///     Cache(Error),
    ///     Upstream(&'static str),
    /// }
    /// impl From<Error> for AppError {
    ///     fn from(e: Error) -> Self {
    ///         AppError::Cache(e)
    ///     }
    /// }
    ///
    /// let cache = Cache::builder().open_temp()?;
    /// let failed = cache.try_get_or_insert_with("k", || Err::<u32, _>(AppError::Upstream("down")));
    /// assert!(matches!(failed, Err(AppError::Upstream("down"))));
    /// assert!(!cache.contains("k")?);
    /// let v = cache.try_get_or_insert_with("k", || Ok::<u32, Error>(7))?;
    /// assert_eq!(v, 7);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    fn try_get_or_insert_with<V, E>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce() -> std::result::Result<V, E>,
    ) -> std::result::Result<V, E>
    where
        V: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
    {
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        let value = f()?;
        if self.add(key, &value)? {
            return Ok(value);
        }
        // Another caller stored a value meanwhile: return that one, so
        // that every caller sees the same.
        Ok(self.get(key)?.unwrap_or(value))
    }

    /// Reads the value under `key` (`None` when absent), and stores what
    /// `f` makes of it (`None` deletes the entry), in one transaction on
    /// the key's lock ([`transact_on`](DiskCache::transact_on)): no other
    /// writer, in this process or another, changes the key between the
    /// read and the write. Returns what `f` returned. The entry is stored
    /// with default options (the cache's default time to live, if any).
    ///
    /// ```
    /// use diskcache::{Cache, DiskCache};
    /// let cache = Cache::builder().open_temp()?;
    /// let n = cache.update("visits", |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
    /// assert_eq!(n, Some(1));
    /// let cart = cache.update("cart", |c: Option<Vec<String>>| {
    ///     let mut c = c.unwrap_or_default();
    ///     c.push("book".into());
    ///     Some(c)
    /// })?;
    /// assert_eq!(cart.map(|c| c.len()), Some(1));
    /// assert_eq!(cache.update("cart", |_: Option<Vec<String>>| None)?, None);
    /// assert!(!cache.contains("cart")?);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    fn update<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce(Option<V>) -> Option<V>,
    ) -> Result<Option<V>> {
        self.transact_on(key, || {
            let new = f(self.get(key)?);
            match &new {
                Some(value) => self.set(key, value)?,
                None => {
                    self.delete(key)?;
                }
            }
            Ok(new)
        })
    }
}

impl DiskCache for Cache {
    fn directory(&self) -> &Path {
        Cache::directory(self)
    }
    fn get<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        Cache::get(self, key)
    }
    fn get_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        Cache::get_entry(self, key)
    }
    fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>> {
        Cache::read(self, key)
    }
    fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        Cache::contains(self, key)
    }
    fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<()> {
        Cache::set_with(self, key, value, opts)
    }
    fn set_reader<K: Serialize + ?Sized>(
        &self,
        key: &K,
        reader: &mut dyn Read,
        opts: &SetOptions,
    ) -> Result<u64> {
        Cache::set_reader(self, key, reader, opts)
    }
    fn add_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        Cache::add_with(self, key, value, opts)
    }
    fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        Cache::delete(self, key)
    }
    fn touch(&self, key: &(impl Serialize + ?Sized), expire: Option<Duration>) -> Result<bool> {
        Cache::touch(self, key, expire)
    }
    fn pop<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        Cache::pop(self, key)
    }
    fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        Cache::incr(self, key, delta, default)
    }
    fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        Cache::decr(self, key, delta, default)
    }
    fn push_with<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
        opts: &SetOptions,
    ) -> Result<Key> {
        Cache::push_with(self, value, prefix, side, opts)
    }
    fn pull<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        Cache::pull(self, prefix, side)
    }
    fn peek<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        Cache::peek(self, prefix, side)
    }
    fn len(&self) -> Result<u64> {
        Cache::len(self)
    }
    fn volume(&self) -> Result<u64> {
        Cache::volume(self)
    }
    fn clear(&self) -> Result<u64> {
        Cache::clear(self)
    }
    fn expire(&self) -> Result<u64> {
        Cache::expire(self)
    }
    fn cull(&self) -> Result<u64> {
        Cache::cull(self)
    }
    fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        Cache::evict(self, tag)
    }
    fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        Cache::transact(self, f)
    }
    fn transact_on<T, E: From<Error>>(
        &self,
        _key: &(impl Serialize + ?Sized),
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        Cache::transact(self, f)
    }
}

/// The shard of the queue `prefix` (the one its prefix hashes to, as
/// [`FanoutCache::push`] places it).
fn queue_shard<'a>(fanout: &'a FanoutCache, prefix: Option<&str>) -> Result<&'a Cache> {
    fanout.shard_for(prefix.unwrap_or(""))
}

/// `f` on every shard at once, one thread per shard, every shard to the
/// end; the sum, or the first error in shard order.
fn on_every_shard(fanout: &FanoutCache, f: impl Fn(&Cache) -> Result<u64> + Sync) -> Result<u64> {
    let results: Vec<Result<u64>> = std::thread::scope(|scope| {
        let threads: Vec<_> = fanout
            .shards()
            .iter()
            .map(|shard| scope.spawn(|| f(shard)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().sum()
}

/// The sum of `f` over the shards, one after another.
fn sum(fanout: &FanoutCache, f: impl Fn(&Cache) -> Result<u64>) -> Result<u64> {
    fanout.shards().iter().map(f).sum()
}

impl DiskCache for FanoutCache {
    fn directory(&self) -> &Path {
        FanoutCache::directory(self)
    }
    fn get<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        self.shard_for(key)?.get(key)
    }
    fn get_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        self.shard_for(key)?.get_entry(key)
    }
    fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>> {
        self.shard_for(key)?.read(key)
    }
    fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        self.shard_for(key)?.contains(key)
    }
    fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<()> {
        self.shard_for(key)?.set_with(key, value, opts)
    }
    fn set_reader<K: Serialize + ?Sized>(
        &self,
        key: &K,
        reader: &mut dyn Read,
        opts: &SetOptions,
    ) -> Result<u64> {
        self.shard_for(key)?.set_reader(key, reader, opts)
    }
    fn add_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        self.shard_for(key)?.add_with(key, value, opts)
    }
    fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        self.shard_for(key)?.delete(key)
    }
    fn touch(&self, key: &(impl Serialize + ?Sized), expire: Option<Duration>) -> Result<bool> {
        self.shard_for(key)?.touch(key, expire)
    }
    fn pop<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        self.shard_for(key)?.pop(key)
    }
    fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        self.shard_for(key)?.incr(key, delta, default)
    }
    fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        self.shard_for(key)?.decr(key, delta, default)
    }
    fn push_with<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
        opts: &SetOptions,
    ) -> Result<Key> {
        queue_shard(self, prefix)?.push_with(value, prefix, side, opts)
    }
    fn pull<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        queue_shard(self, prefix)?.pull(prefix, side)
    }
    fn peek<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        queue_shard(self, prefix)?.peek(prefix, side)
    }
    fn len(&self) -> Result<u64> {
        sum(self, Cache::len)
    }
    fn volume(&self) -> Result<u64> {
        sum(self, Cache::volume)
    }
    fn clear(&self) -> Result<u64> {
        on_every_shard(self, Cache::clear)
    }
    fn expire(&self) -> Result<u64> {
        on_every_shard(self, Cache::expire)
    }
    fn cull(&self) -> Result<u64> {
        on_every_shard(self, Cache::cull)
    }
    fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        let tag: Key = tag.into();
        on_every_shard(self, |shard| shard.evict(tag.clone()))
    }
    fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        // Each shard waits for its lock up to the timeout, holding the
        // shards before it; the shard order rules out a deadlock with
        // another fanout transaction.
        fn nest<T, E: From<Error>>(
            shards: &[Cache],
            f: impl FnOnce() -> Result<T, E>,
        ) -> Result<T, E> {
            match shards.split_first() {
                None => f(),
                Some((first, rest)) => first.transact(|| nest(rest, f)),
            }
        }
        nest(self.shards(), f)
    }
    fn transact_on<T, E: From<Error>>(
        &self,
        key: &(impl Serialize + ?Sized),
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.shard_for(key)?.transact(f)
    }
}
