//! [`Index`]: a persistent, process-safe mapping in insertion order.

use std::marker::PhantomData;
use std::path::Path;

use diskcache_shard::{Cache, EvictionPolicy, Key, Result, Side};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A mapping from `K` to `V` kept in a cache directory that never evicts,
/// iterated in insertion order, shared safely by threads and processes
/// (python-diskcache's `Index`, same format).
///
/// ```
/// use diskcache::Index;
/// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
/// let index: Index<String, u32> = Index::open(dir.path())?;
/// index.insert(&"b".into(), &2)?;
/// index.insert(&"a".into(), &1)?;
/// assert_eq!(index.get(&"a".into())?, Some(1));
/// let keys: Vec<String> = index.keys().collect::<Result<_, _>>()?;
/// assert_eq!(keys, ["b", "a"]); // insertion order
/// assert_eq!(index.setdefault(&"c".into(), &3)?, 3);
/// assert_eq!(index.popitem(true)?, Some(("c".into(), 3)));
/// # Ok::<(), diskcache::Error>(())
/// ```
pub struct Index<K, V> {
    cache: Cache,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The directory.
impl<K, V> std::fmt::Debug for Index<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("directory", &self.cache.directory())
            .finish()
    }
}

impl<K, V> Clone for Index<K, V> {
    fn clone(&self) -> Self {
        Index {
            cache: self.cache.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V> Index<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Opens (creating if needed) the index in `dir`; its cache never
    /// evicts.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .open(dir)?,
        ))
    }

    /// An index on an already open cache (which should not evict).
    pub fn from_cache(cache: Cache) -> Self {
        Index {
            cache,
            _types: PhantomData,
        }
    }

    /// The cache holding the entries.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Sets `key` to `value`; a present key keeps its place in the order.
    pub fn insert(&self, key: &K, value: &V) -> Result<()> {
        self.cache.set(key, value)
    }

    /// Inserts every pair, in order, as one transaction (python's
    /// `Index.update`): other threads and processes see all of them at
    /// once, and none of them when one fails.
    ///
    /// ```
    /// use diskcache::Index;
    /// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
    /// let index: Index<String, u32> = Index::open(dir.path())?;
    /// let (a, b) = ("a".to_string(), "b".to_string());
    /// index.insert(&b, &0)?;
    /// index.extend([(&a, &1), (&b, &2)])?;
    /// let items: Vec<(String, u32)> = index.items().collect::<Result<_, _>>()?;
    /// assert_eq!(items, [(b, 2), (a, 1)]); // "b" keeps its place
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn extend<'a>(&self, entries: impl IntoIterator<Item = (&'a K, &'a V)>) -> Result<()>
    where
        K: 'a,
        V: 'a,
    {
        self.cache.transact(|| {
            entries
                .into_iter()
                .try_for_each(|(key, value)| self.insert(key, value))
        })
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.cache.get(key)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> Result<bool> {
        self.cache.contains(key)
    }

    /// Removes `key`, returning its value.
    pub fn pop(&self, key: &K) -> Result<Option<V>> {
        self.cache.pop(key)
    }

    /// Removes `key`; whether it was present.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.cache.delete(key)
    }

    /// The number of entries.
    pub fn len(&self) -> Result<u64> {
        self.cache.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> Result<bool> {
        self.cache.is_empty()
    }

    /// The value of `key`, first inserting `default` if absent (atomically).
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V> {
        self.cache.transact(|| {
            self.cache.add(key, default)?;
            self.cache.get(key)?.ok_or(diskcache_shard::Error::NotFound)
        })
    }

    /// The value of `key`, computing and inserting it with `f` if absent.
    /// Concurrent callers may both compute; one value is kept.
    pub fn memoize(&self, key: &K, f: impl FnOnce() -> V) -> Result<V> {
        if let Some(v) = self.cache.get(key)? {
            return Ok(v);
        }
        let value = f();
        self.setdefault(key, &value)
    }

    /// The first (`last == false`) or last entry in insertion order.
    pub fn peekitem(&self, last: bool) -> Result<Option<(K, V)>> {
        match self.cache.peekitem::<V>(last)? {
            Some((key, value)) => Ok(Some((key.decode()?, value))),
            None => Ok(None),
        }
    }

    /// Removes and returns the first or last entry in insertion order. An
    /// entry whose key does not decode as `K` (one python pickled, say:
    /// [`Error::Pickled`](diskcache_shard::Error::Pickled) naming it) stays.
    pub fn popitem(&self, last: bool) -> Result<Option<(K, V)>> {
        self.cache.transact(|| {
            let Some((key, value)) = self.cache.peekitem::<V>(last)? else {
                return Ok(None);
            };
            let decoded = key.decode()?;
            self.cache.delete(&key)?;
            Ok(Some((decoded, value)))
        })
    }

    /// Pushes onto the queue `prefix` kept in this index (see
    /// [`Cache::push`]); the key it was stored under.
    pub fn push(&self, value: &V, prefix: Option<&str>, side: Side) -> Result<Key> {
        self.cache.push(value, prefix, side)
    }

    /// Pulls from the queue `prefix` (see [`Cache::pull`]).
    pub fn pull(&self, prefix: Option<&str>, side: Side) -> Result<Option<(Key, V)>> {
        self.cache.pull(prefix, side)
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = Result<K>> + use<K, V> {
        self.cache.keys().map(|k| k?.decode())
    }

    /// The keys, newest first.
    pub fn keys_rev(&self) -> impl Iterator<Item = Result<K>> + use<K, V> {
        self.cache.keys_rev().map(|k| k?.decode())
    }

    /// The entries in insertion order (an entry removed meanwhile is skipped).
    pub fn items(&self) -> impl Iterator<Item = Result<(K, V)>> + use<K, V> {
        let cache = self.cache.clone();
        self.cache.keys().filter_map(move |key| entry(&cache, key))
    }

    /// The entries, newest first.
    pub fn items_rev(&self) -> impl Iterator<Item = Result<(K, V)>> + use<K, V> {
        let cache = self.cache.clone();
        self.cache
            .keys_rev()
            .filter_map(move |key| entry(&cache, key))
    }

    /// The values in insertion order.
    pub fn values(&self) -> impl Iterator<Item = Result<V>> + use<K, V> {
        self.items().map(|r| r.map(|(_, v)| v))
    }

    /// The values, newest first.
    pub fn values_rev(&self) -> impl Iterator<Item = Result<V>> + use<K, V> {
        self.items_rev().map(|r| r.map(|(_, v)| v))
    }

    /// Whether this index holds exactly the entries of `other` (any order).
    pub fn eq_entries(&self, other: impl IntoIterator<Item = (K, V)>) -> Result<bool>
    where
        V: PartialEq,
    {
        let mut count = 0u64;
        for (key, value) in other {
            count += 1;
            if self.get(&key)?.as_ref() != Some(&value) {
                return Ok(false);
            }
        }
        Ok(count == self.len()?)
    }

    /// Whether two indexes hold the same entries.
    pub fn eq_index(&self, other: &Index<K, V>) -> Result<bool>
    where
        V: PartialEq,
    {
        let entries: Vec<(K, V)> = other.items().collect::<Result<_>>()?;
        self.eq_entries(entries)
    }

    /// Removes every entry; how many.
    pub fn clear(&self) -> Result<u64> {
        self.cache.clear()
    }

    /// Runs `f` as one atomic unit (see [`Cache::transact`]).
    pub fn transact<T, E: From<diskcache_shard::Error>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.cache.transact(f)
    }
}

/// The entry of `key`, or `None` when it was removed meanwhile.
fn entry<K: DeserializeOwned + 'static, V: DeserializeOwned + 'static>(
    cache: &Cache,
    key: Result<Key>,
) -> Option<Result<(K, V)>> {
    let key = match key {
        Ok(k) => k,
        Err(e) => return Some(Err(e)),
    };
    match cache.get::<V>(&key) {
        Ok(Some(v)) => Some(key.decode().map(|k| (k, v))),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}
