//! [`Store`]: what a recipe needs of a cache, for a Cache and a FanoutCache.

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, Entry, Key, SetOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;

/// A cache the recipes can use: [`Cache`] or [`FanoutCache`].
///
/// On a `FanoutCache` a write that could not get its shard's lock in time
/// reports `false`; the recipes treat that as "try again".
pub trait Store: Clone + Send + Sync + 'static {
    /// The value of `key`, with its expiry and tag.
    fn entry<V: DeserializeOwned + 'static>(&self, key: &Key) -> Result<Option<Entry<V>>>;
    /// Stores `value`; whether it was stored.
    fn put<V: Serialize + ?Sized>(&self, key: &Key, value: &V, opts: &SetOptions) -> Result<bool>;
    /// Stores `value` only if `key` is absent; whether it was stored.
    fn put_new<V: Serialize + ?Sized>(
        &self,
        key: &Key,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool>;
    /// Removes `key`; whether it was present.
    fn remove(&self, key: &Key) -> Result<bool>;
    /// Runs `f` atomically with respect to every other writer of `key`.
    fn transact_on<T>(&self, key: &Key, f: impl FnOnce() -> Result<T>) -> Result<T>;
}

impl Store for Cache {
    fn entry<V: DeserializeOwned + 'static>(&self, key: &Key) -> Result<Option<Entry<V>>> {
        self.get_entry(key)
    }
    fn put<V: Serialize + ?Sized>(&self, key: &Key, value: &V, opts: &SetOptions) -> Result<bool> {
        self.set_with(key, value, opts)?;
        Ok(true)
    }
    fn put_new<V: Serialize + ?Sized>(
        &self,
        key: &Key,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        self.add_with(key, value, opts)
    }
    fn remove(&self, key: &Key) -> Result<bool> {
        self.delete(key)
    }
    fn transact_on<T>(&self, _: &Key, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.transact(f)
    }
}

impl Store for FanoutCache {
    fn entry<V: DeserializeOwned + 'static>(&self, key: &Key) -> Result<Option<Entry<V>>> {
        self.get_entry(key)
    }
    fn put<V: Serialize + ?Sized>(&self, key: &Key, value: &V, opts: &SetOptions) -> Result<bool> {
        self.set_with(key, value, opts)
    }
    fn put_new<V: Serialize + ?Sized>(
        &self,
        key: &Key,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        self.add_with(key, value, opts)
    }
    fn remove(&self, key: &Key) -> Result<bool> {
        self.delete(key)
    }
    fn transact_on<T>(&self, key: &Key, f: impl FnOnce() -> Result<T>) -> Result<T> {
        // One shard holds the key: lock only that one.
        self.shard_for(key)?.transact(f)
    }
}
