//! Batched calls: many keys in one transaction.
//!
//! A set costs one commit, about two thirds of its time; `set_many` pays
//! it once for the whole batch (and the lock wait, and the commit
//! bookkeeping), so a hundred small sets in one call run several times
//! faster than a hundred calls (see docs/benchmarks.md). `get_many` reads
//! every key in one read transaction, so the values are one snapshot.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, SetOptions, now};
use crate::codec::Key;
use crate::error::Result;
use crate::row::{Stored, fetch, with_live_row};
use crate::txn::{self, in_transaction};

impl Cache {
    /// Stores every `(key, value)` pair, in one transaction: all of them or,
    /// on an error, none (with the cache's default time-to-live, if any,
    /// unless `opts` says otherwise). Large values are written to their files before
    /// the transaction begins. Returns how many pairs were stored.
    ///
    /// ```
    /// use diskcache_shard::{Cache, SetOptions};
    /// let cache = Cache::builder().open_temp()?;
    /// let pairs = [("a", 1), ("b", 2), ("c", 3)];
    /// assert_eq!(cache.set_many(pairs, &SetOptions::new())?, 3);
    /// assert_eq!(cache.get_many::<_, i64>(["a", "c", "x"])?, [Some(1), Some(3), None]);
    /// assert_eq!(cache.delete_many(["a", "b", "x"])?, 2);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn set_many<K: Serialize, V: Serialize>(
        &self,
        items: impl IntoIterator<Item = (K, V)>,
        opts: &SetOptions,
    ) -> Result<u64> {
        let opts = &*opts.or_ttl(self.inner.default_ttl);
        let mut stored: Vec<(Key, Stored)> = Vec::new();
        let encoded = items.into_iter().try_for_each(|(key, value)| {
            let key = self.codec().key(&key)?;
            let value = self.store(self.codec().value(&value)?)?;
            stored.push((key, value));
            Ok(())
        });
        let result = encoded.and_then(|()| {
            self.write(|conn, st| {
                for (key, value) in &stored {
                    self.put_stored(conn, st, key, value, opts)?;
                }
                Ok(stored.len() as u64)
            })
        });
        if result.is_err() {
            for (_, value) in &stored {
                self.discard(value);
            }
        }
        result
    }

    /// The values stored under `keys`, in their order (`None` for a key
    /// absent or expired), read in one read transaction: one snapshot of
    /// the cache, never waiting for writers.
    pub fn get_many<K: Serialize, V: DeserializeOwned + 'static>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<V>>> {
        let keys: Vec<Key> = keys
            .into_iter()
            .map(|k| self.codec().key(&k))
            .collect::<Result<_>>()?;
        let now = now();
        let codec = self.codec();
        let own = !in_transaction(self.inner.id);
        let fetched = self.with_conn_at(now, |conn| {
            if own {
                txn::exec(conn, "BEGIN")?;
            }
            let read = keys
                .iter()
                .map(|key| {
                    with_live_row(conn, key, now, |row| {
                        Ok((row.get::<_, i64>(0)?, fetch::<V>(codec, row, 1)?))
                    })
                    .map_err(|e| e.for_value::<V>(key))
                })
                .collect::<Result<Vec<_>>>();
            if own {
                txn::rollback(conn);
            }
            read
        })?;
        fetched
            .into_iter()
            .zip(&keys)
            .map(|(found, key)| {
                let hit = found.as_ref().map(|(rowid, _)| *rowid);
                let value = match found {
                    Some((_, fetched)) => {
                        self.finish(fetched).map_err(|e| e.for_value::<V>(key))?
                    }
                    None => None,
                };
                self.record_read(hit.filter(|_| value.is_some()), now);
                Ok(value)
            })
            .collect()
    }

    /// Removes every key of `keys`, in one transaction; returns how many
    /// were present (and not expired).
    pub fn delete_many<K: Serialize>(&self, keys: impl IntoIterator<Item = K>) -> Result<u64> {
        let keys: Vec<Key> = keys
            .into_iter()
            .map(|k| self.codec().key(&k))
            .collect::<Result<_>>()?;
        self.write(|conn, st| {
            let mut removed = 0;
            for key in &keys {
                removed += u64::from(Self::delete_in(conn, st, key)?);
            }
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_batch_stores_nothing_and_leaves_no_file() -> Result<()> {
        let cache = Cache::builder().min_file_size(1000).open_temp()?;
        cache.set("kept", &1)?;
        let big = vec![7u8; 5000];
        // The second pair's value cannot be encoded: nothing is stored.
        let bad: Vec<(&str, std::result::Result<Vec<u8>, ()>)> =
            vec![("x", Ok(big.clone())), ("y", Err(()))];
        let failed = cache.set_many(
            bad.iter()
                .map(|(k, v)| (*k, v.as_ref().map_err(|_| Unencodable))),
            &SetOptions::new(),
        );
        assert!(failed.is_err());
        assert_eq!(cache.len()?, 1);
        assert!(cache.check(false)?.is_clean(), "a value file was left");
        Ok(())
    }

    /// A value serde refuses to encode.
    #[derive(Debug)]
    struct Unencodable;

    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not encodable"))
        }
    }

    #[test]
    fn a_batch_is_one_commit() -> Result<()> {
        let cache = Cache::builder().open_temp()?;
        cache.set("first", &0)?;
        let commits = cache.counters().feed_records;
        cache.set_many((0..100).map(|i| (i, i)), &SetOptions::new())?;
        assert_eq!(cache.counters().feed_records, commits + 1);
        assert_eq!(cache.delete_many(0..50)?, 50);
        assert_eq!(cache.counters().feed_records, commits + 2);
        assert_eq!(cache.len()?, 51);
        Ok(())
    }

    #[test]
    fn get_many_reads_one_snapshot_and_files_too() -> Result<()> {
        let cache = Cache::builder().min_file_size(100).open_temp()?;
        let big = vec![3u8; 1000];
        cache.set_many(
            [("small", vec![1u8]), ("big", big.clone())],
            &SetOptions::new(),
        )?;
        let got = cache.get_many::<_, Vec<u8>>(["big", "none", "small"])?;
        assert_eq!(got, [Some(big), None, Some(vec![1u8])]);
        // Inside a transaction it reads the transaction's state.
        cache.transact(|| {
            cache.set("small", &vec![2u8])?;
            let got = cache.get_many::<_, Vec<u8>>(["small"])?;
            assert_eq!(got, [Some(vec![2u8])]);
            Ok::<_, crate::Error>(())
        })?;
        Ok(())
    }
}
