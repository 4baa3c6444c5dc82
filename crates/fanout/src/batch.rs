//! Batched calls on a fanout cache: one transaction per shard.

use serde::Serialize;
use serde::de::DeserializeOwned;

use diskcache_shard::{Key, SetOptions};

use crate::error::Result;
use crate::fanout::FanoutCache;

impl FanoutCache {
    /// Which shard each item goes to, by its key.
    fn by_shard<T, K: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &K,
    ) -> Result<Vec<Vec<(usize, T)>>> {
        let n = self.inner.shards.len();
        let mut groups: Vec<Vec<(usize, T)>> = (0..n).map(|_| Vec::new()).collect();
        for (at, item) in items.into_iter().enumerate() {
            let shard = self.inner.hash.shard_of(&Key::from_value(key(&item))?, n);
            groups[shard].push((at, item));
        }
        Ok(groups)
    }

    /// Stores every `(key, value)` pair, in one transaction per shard.
    /// Returns how many were stored: a shard whose lock stays busy past the
    /// timeout stores none of its pairs ("not stored", as for
    /// [`set`](Self::set)); any other error is returned.
    ///
    /// ```
    /// use diskcache_fanout::FanoutCache;
    /// use diskcache_shard::SetOptions;
    /// let dir = tempfile::tempdir()?;
    /// let cache = FanoutCache::builder().shards(4).open(dir.path())?;
    /// let pairs: Vec<(String, u32)> = (0..100).map(|i| (format!("k{i}"), i)).collect();
    /// assert_eq!(cache.set_many(pairs, &SetOptions::new())?, 100);
    /// let got = cache.get_many::<_, u32>(["k7", "k99", "nope"])?;
    /// assert_eq!(got, [Some(7), Some(99), None]);
    /// assert_eq!(cache.delete_many(["k7", "nope"])?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_many<K: Serialize, V: Serialize>(
        &self,
        items: impl IntoIterator<Item = (K, V)>,
        opts: &SetOptions,
    ) -> Result<u64> {
        let mut stored = 0;
        for (shard, group) in self.by_shard(items, |(k, _)| k)?.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let pairs = group.into_iter().map(|(_, pair)| pair);
            match self.inner.shards[shard].set_many(pairs, opts) {
                Ok(n) => stored += n,
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(stored)
    }

    /// The values stored under `keys`, in their order, read in one read
    /// transaction per shard; a key of a shard whose database cannot be
    /// read in time is a miss, as for [`get`](Self::get).
    pub fn get_many<K: Serialize, V: DeserializeOwned + 'static>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<V>>> {
        let groups = self.by_shard(keys, |k| k)?;
        let total = groups.iter().map(Vec::len).sum();
        let mut values: Vec<Option<V>> = (0..total).map(|_| None).collect();
        for (shard, group) in groups.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let (places, keys): (Vec<usize>, Vec<K>) = group.into_iter().unzip();
            match self.inner.shards[shard].get_many::<K, V>(keys) {
                Ok(found) => {
                    for (at, value) in places.into_iter().zip(found) {
                        values[at] = value;
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(values)
    }

    /// Removes every key of `keys`, in one transaction per shard; returns
    /// how many were present. A shard whose lock stays busy past the
    /// timeout removes none of its keys.
    pub fn delete_many<K: Serialize>(&self, keys: impl IntoIterator<Item = K>) -> Result<u64> {
        let mut removed = 0;
        for (shard, group) in self.by_shard(keys, |k| k)?.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            match self.inner.shards[shard].delete_many(group.into_iter().map(|(_, k)| k)) {
                Ok(n) => removed += n,
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}
