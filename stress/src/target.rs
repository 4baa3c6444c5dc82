//! The cache under test: one Shard, or a FanoutCache of 4 shards.

use std::time::Duration;

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, SetOptions, Side};

use crate::Res;

/// One Shard or a FanoutCache, behind the operations the scenarios use.
pub enum Target {
    /// A single cache.
    Shard(Cache),
    /// Four shards.
    Fanout(FanoutCache),
}

impl Target {
    /// Opens `kind` (`shard` or `fanout`) in `dir` with `size_limit`.
    pub fn open(kind: &str, dir: &str, size_limit: u64) -> Res<Target> {
        Self::open_memo(kind, dir, size_limit, true)
    }

    /// As [`open`](Self::open), with the read memo on or off.
    pub fn open_memo(kind: &str, dir: &str, size_limit: u64, memo: bool) -> Res<Target> {
        let mut builder = Cache::builder().size_limit(size_limit);
        if !memo {
            builder = builder.memo_bytes(0);
        }
        Ok(match kind {
            "shard" => Target::Shard(builder.open(dir)?),
            "fanout" => Target::Fanout(
                FanoutCache::builder()
                    .shards(4)
                    .size_limit(size_limit)
                    .cache(builder)
                    .open(dir)?,
            ),
            other => return Err(format!("unknown kind {other}").into()),
        })
    }

    /// Stores `value`; false when not stored (a fanout shard stayed locked).
    pub fn set(&self, key: &str, value: &[u8], opts: &SetOptions) -> Res<bool> {
        Ok(match self {
            Target::Shard(c) => c.set_with(key, value, opts).map(|()| true)?,
            Target::Fanout(c) => c.set_with(key, value, opts)?,
        })
    }

    /// Runs `f` as one transaction; on the fanout, over every shard (which
    /// commit one after another).
    pub fn transact<T>(&self, f: impl FnOnce() -> Res<T>) -> Res<T> {
        match self {
            Target::Shard(c) => c.transact(f),
            Target::Fanout(c) => c.transact(f),
        }
    }

    /// Stores `value` if absent.
    pub fn add(&self, key: &str, value: &[u8]) -> Res<bool> {
        Ok(match self {
            Target::Shard(c) => c.add(key, value)?,
            Target::Fanout(c) => c.add(key, value)?,
        })
    }

    /// The bytes under `key`.
    pub fn get(&self, key: &str) -> Res<Option<Vec<u8>>> {
        Ok(match self {
            Target::Shard(c) => c.get(key)?,
            Target::Fanout(c) => c.get(key)?,
        })
    }

    /// Removes and returns the bytes under `key`.
    pub fn pop(&self, key: &str) -> Res<Option<Vec<u8>>> {
        Ok(match self {
            Target::Shard(c) => c.pop(key)?,
            Target::Fanout(c) => c.pop(key)?,
        })
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Res<bool> {
        Ok(match self {
            Target::Shard(c) => c.delete(key)?,
            Target::Fanout(c) => c.delete(key)?,
        })
    }

    /// Adds one to counter `name`; false when not stored.
    pub fn incr(&self, name: &str) -> Res<Option<i64>> {
        Ok(match self {
            Target::Shard(c) => Some(c.incr(name, 1, Some(0))?),
            Target::Fanout(c) => c.incr(name, 1, Some(0))?,
        })
    }

    /// Pushes `item` onto queue `q`; false when not stored.
    pub fn push(&self, item: &str) -> Res<bool> {
        Ok(match self {
            Target::Shard(c) => c.push(item, Some("q"), Side::Back).map(|_| true)?,
            Target::Fanout(c) => c.push(item, Some("q"), Side::Back)?.is_some(),
        })
    }

    /// Pulls the front of queue `q`.
    pub fn pull(&self) -> Res<Option<String>> {
        Ok(match self {
            Target::Shard(c) => c.pull::<String>(Some("q"), Side::Front)?,
            Target::Fanout(c) => c.pull::<String>(Some("q"), Side::Front)?,
        }
        .map(|(_, v)| v))
    }

    /// Sets a new expiry on `key`.
    pub fn touch(&self, key: &str, expire: Duration) -> Res<bool> {
        Ok(match self {
            Target::Shard(c) => c.touch(key, Some(expire))?,
            Target::Fanout(c) => c.touch(key, Some(expire))?,
        })
    }

    /// Removes the entries tagged `tag`.
    pub fn evict(&self, tag: &str) -> Res<u64> {
        Ok(match self {
            Target::Shard(c) => c.evict(tag)?,
            Target::Fanout(c) => c.evict(tag)?,
        })
    }

    /// Culls to the size limit.
    pub fn cull(&self) -> Res<u64> {
        Ok(match self {
            Target::Shard(c) => c.cull()?,
            Target::Fanout(c) => c.cull()?,
        })
    }

    /// The counter `name`'s value.
    pub fn counter(&self, name: &str) -> Res<i64> {
        Ok(match self {
            Target::Shard(c) => c.get(name)?,
            Target::Fanout(c) => c.get(name)?,
        }
        .unwrap_or(0))
    }

    /// The volume in bytes.
    pub fn volume(&self) -> Res<u64> {
        Ok(match self {
            Target::Shard(c) => c.volume()?,
            Target::Fanout(c) => c.volume()?,
        })
    }

    /// Checks (and with `fix` repairs, sweeping every orphan); the problems
    /// found, in words.
    pub fn check(&self, fix: bool) -> Res<Vec<String>> {
        let reports = match self {
            Target::Shard(c) => vec![c.check_with(fix, Duration::ZERO)?],
            Target::Fanout(c) => c.check_with(fix, Duration::ZERO)?.shards,
        };
        Ok(reports
            .iter()
            .flat_map(|r| r.problems.iter().map(|p| format!("{p:?}")))
            .collect())
    }
}
