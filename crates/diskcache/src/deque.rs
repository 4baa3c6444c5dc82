//! [`Deque`]: a persistent, process-safe double-ended queue.

use std::marker::PhantomData;
use std::path::Path;

use diskcache_shard::{Cache, EvictionPolicy, Result, Side};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A double-ended queue of `V` kept in a cache directory, shared safely by
/// threads and processes (python-diskcache's `Deque`, same format).
///
/// Items are entries of the cache's integer queue; every operation is one
/// transaction, and [`transact`](Deque::transact) groups several. With a
/// maximum length, adding at one end drops items from the other.
///
/// An item popped is gone: a consumer killed between the pop and the end of
/// its work loses it. For work that must not be lost, use a
/// [`WorkQueue`](crate::WorkQueue), which leases jobs and puts back those
/// whose consumer died.
///
/// ```
/// use diskcache::Deque;
/// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
/// let deque: Deque<String> = Deque::open(dir.path())?;
/// deque.append(&"b".to_string())?;
/// deque.append_left(&"a".to_string())?;
/// deque.extend(["c".to_string(), "d".to_string()].iter())?;
/// assert_eq!(deque.len()?, 4);
/// assert_eq!(deque.get(1)?.as_deref(), Some("b"));
/// assert_eq!(deque.get(-1)?.as_deref(), Some("d"));
/// assert_eq!(deque.pop_left()?.as_deref(), Some("a"));
/// deque.rotate(1)?;
/// let all: Vec<String> = deque.iter().collect::<Result<_, _>>()?;
/// assert_eq!(all, ["d", "b", "c"]);
/// # Ok::<(), diskcache::Error>(())
/// ```
pub struct Deque<V> {
    cache: Cache,
    maxlen: Option<u64>,
    _values: PhantomData<fn() -> V>,
}

/// The directory and the bound.
impl<V> std::fmt::Debug for Deque<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deque")
            .field("directory", &self.cache.directory())
            .field("maxlen", &self.maxlen)
            .finish()
    }
}

impl<V> Clone for Deque<V> {
    fn clone(&self) -> Self {
        Deque {
            cache: self.cache.clone(),
            maxlen: self.maxlen,
            _values: PhantomData,
        }
    }
}

impl<V: Serialize + DeserializeOwned + 'static> Deque<V> {
    /// Opens (creating if needed) the deque in `dir`; its cache never
    /// evicts by size.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .open(dir)?,
        ))
    }

    /// A deque on an already open cache (which should not evict by size).
    pub fn from_cache(cache: Cache) -> Self {
        Deque {
            cache,
            maxlen: None,
            _values: PhantomData,
        }
    }

    /// Caps the length at `maxlen`, dropping items from the front now if
    /// there are more.
    pub fn with_maxlen(mut self, maxlen: u64) -> Result<Self> {
        self.maxlen = Some(maxlen);
        self.trim(Side::Front)?;
        Ok(self)
    }

    /// The cap on the length, if any.
    pub fn maxlen(&self) -> Option<u64> {
        self.maxlen
    }

    /// The cache holding the items.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Drops items at `side` while longer than the cap.
    fn trim(&self, side: Side) -> Result<()> {
        let Some(max) = self.maxlen else {
            return Ok(());
        };
        while self.cache.len()? > max {
            if self
                .cache
                .pull::<serde::de::IgnoredAny>(None, side)?
                .is_none()
            {
                break;
            }
        }
        Ok(())
    }

    fn add(&self, value: &V, side: Side) -> Result<()> {
        let other = match side {
            Side::Back => Side::Front,
            Side::Front => Side::Back,
        };
        self.cache.transact(|| {
            self.cache.push(value, None, side)?;
            self.trim(other)
        })
    }

    /// Adds `value` at the back.
    pub fn append(&self, value: &V) -> Result<()> {
        self.add(value, Side::Back)
    }

    /// Adds `value` at the front.
    pub fn append_left(&self, value: &V) -> Result<()> {
        self.add(value, Side::Front)
    }

    /// Adds every value at the back, in order, as one transaction.
    pub fn extend<'a>(&self, values: impl IntoIterator<Item = &'a V>) -> Result<()>
    where
        V: 'a,
    {
        self.cache
            .transact(|| values.into_iter().try_for_each(|v| self.append(v)))
    }

    /// Adds every value at the front, in order (so the last ends up first).
    pub fn extend_left<'a>(&self, values: impl IntoIterator<Item = &'a V>) -> Result<()>
    where
        V: 'a,
    {
        self.cache
            .transact(|| values.into_iter().try_for_each(|v| self.append_left(v)))
    }

    /// Removes and returns the back item.
    pub fn pop(&self) -> Result<Option<V>> {
        Ok(self.cache.pull(None, Side::Back)?.map(|(_, v)| v))
    }

    /// Removes and returns the front item.
    pub fn pop_left(&self) -> Result<Option<V>> {
        Ok(self.cache.pull(None, Side::Front)?.map(|(_, v)| v))
    }

    /// The back item.
    pub fn peek(&self) -> Result<Option<V>> {
        Ok(self.cache.peek(None, Side::Back)?.map(|(_, v)| v))
    }

    /// The front item.
    pub fn peek_left(&self) -> Result<Option<V>> {
        Ok(self.cache.peek(None, Side::Front)?.map(|(_, v)| v))
    }

    /// The number of items.
    pub fn len(&self) -> Result<u64> {
        self.cache.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> Result<bool> {
        self.cache.is_empty()
    }

    /// Where `index` points: counted from the front when non-negative, from
    /// the back when negative (-1 is the back item).
    fn locate(index: i64) -> (Side, u64) {
        if index >= 0 {
            (Side::Front, index.unsigned_abs())
        } else {
            (Side::Back, index.unsigned_abs() - 1)
        }
    }

    /// The item at `index` (negative counts from the back); `None` out of range.
    pub fn get(&self, index: i64) -> Result<Option<V>> {
        let (side, at) = Self::locate(index);
        Ok(self.cache.queue_get(None, side, at)?.map(|(_, v)| v))
    }

    /// Replaces the item at `index`; `false` when out of range.
    pub fn set(&self, index: i64, value: &V) -> Result<bool> {
        let (side, at) = Self::locate(index);
        self.cache.transact(|| {
            match self
                .cache
                .queue_get::<serde::de::IgnoredAny>(None, side, at)?
            {
                Some((key, _)) => self.cache.set(&key, value).map(|()| true),
                None => Ok(false),
            }
        })
    }

    /// Removes and returns the item at `index`.
    pub fn remove_at(&self, index: i64) -> Result<Option<V>> {
        let (side, at) = Self::locate(index);
        self.cache.transact(|| {
            match self
                .cache
                .queue_get::<serde::de::IgnoredAny>(None, side, at)?
            {
                Some((key, _)) => self.cache.pop(&key),
                None => Ok(None),
            }
        })
    }

    /// Removes the first item equal to `value`; whether one was found.
    pub fn remove(&self, value: &V) -> Result<bool>
    where
        V: PartialEq,
    {
        self.cache.transact(|| {
            for item in self.cache.queue_iter::<V>(None, Side::Front) {
                let (key, v) = item?;
                if &v == value {
                    return self.cache.delete(&key);
                }
            }
            Ok(false)
        })
    }

    /// How many items equal `value` (python's `Deque.count`); reads every
    /// item.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
    /// let deque = diskcache::Deque::<String>::open(dir.path())?;
    /// deque.extend(&["a".to_owned(), "b".to_owned(), "a".to_owned()])?;
    /// assert_eq!(deque.count(&"a".to_owned())?, 2);
    /// assert!(deque.contains(&"b".to_owned())?);
    /// assert!(!deque.contains(&"c".to_owned())?);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn count(&self, value: &V) -> Result<u64>
    where
        V: PartialEq,
    {
        let mut n = 0;
        for item in self.iter() {
            n += u64::from(&item? == value);
        }
        Ok(n)
    }

    /// Whether an item equals `value` (python's `in`); reads items until
    /// one does.
    pub fn contains(&self, value: &V) -> Result<bool>
    where
        V: PartialEq,
    {
        for item in self.iter() {
            if &item? == value {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The items, front first.
    pub fn iter(&self) -> impl Iterator<Item = Result<V>> + use<V> {
        self.cache
            .queue_iter(None, Side::Front)
            .map(|r| r.map(|(_, v)| v))
    }

    /// The items, back first.
    pub fn iter_rev(&self) -> impl Iterator<Item = Result<V>> + use<V> {
        self.cache
            .queue_iter(None, Side::Back)
            .map(|r| r.map(|(_, v)| v))
    }

    /// Reverses the items in place (re-keying rows; values do not move).
    pub fn reverse(&self) -> Result<()> {
        self.cache.queue_reverse(None)
    }

    /// Rotates by `steps`: positive moves items from the back to the front.
    pub fn rotate(&self, steps: i64) -> Result<()> {
        self.cache.queue_rotate(None, steps)
    }

    /// Removes every item; how many.
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
