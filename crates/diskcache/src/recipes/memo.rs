//! Memoization: [`Memo`] computes a value on a miss and stores it;
//! [`Stampede`] also keeps a hot key from making every caller recompute at
//! once.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_shard::{Key, SetOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DiskCache;

use crate::Result;

/// How often a caller waiting for another's computation looks again.
const POLL: Duration = Duration::from_millis(5);

/// The key a memoized call uses: the name, the argument type's name when
/// typed, and the arguments.
fn call_key<A: Serialize + ?Sized>(name: &str, typed: bool, args: &A) -> Result<Key> {
    let type_name = if typed {
        std::any::type_name::<A>()
    } else {
        ""
    };
    Key::from_value(&(name, type_name, args))
}

/// Memoizes computations in a cache, under keys made of a name and the
/// arguments the caller passes.
///
/// The arguments given to [`key`](Memo::key) and
/// [`get_or_compute`](Memo::get_or_compute) are the ones that identify a
/// result; leave out any the result does not depend on (a client handle, a
/// logger) and they are ignored. With [`typed`](Memo::typed), arguments of
/// different types never share an entry even when they encode alike.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::Memo;
/// use std::time::Duration;
///
/// let cache = Cache::builder().open_temp()?;
/// let square = Memo::new(cache.clone(), "square").expire(Duration::from_secs(60));
/// let mut calls = 0;
/// let mut f = |n: u64| square.get_or_compute(&n, || { calls += 1; n * n });
/// assert_eq!(f(12)?, 144);
/// assert_eq!(f(12)?, 144);
/// assert_eq!(calls, 1);
/// // Forget one result: the next call computes it again.
/// cache.delete(&square.key(&12u64)?)?;
/// # Ok::<(), diskcache::Error>(())
/// ```
#[derive(Clone)]
pub struct Memo<S: DiskCache> {
    store: S,
    name: String,
    opts: SetOptions,
    typed: bool,
}

/// The cache, the name and the options results are stored with.
impl<S: DiskCache> std::fmt::Debug for Memo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("cache", &self.store)
            .field("name", &self.name)
            .field("options", &self.opts)
            .field("typed", &self.typed)
            .finish()
    }
}

impl<S: DiskCache> Memo<S> {
    /// Memoizes under `name` in `store`.
    pub fn new(store: S, name: &str) -> Self {
        Memo {
            store,
            name: name.to_string(),
            opts: SetOptions::new(),
            typed: false,
        }
    }

    /// Results expire this long after they are computed. Default = the
    /// cache's [`default_ttl`](crate::CacheBuilder::default_ttl), or never.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.opts = self.opts.expire(after);
        self
    }

    /// Results are tagged (see [`Cache::evict`](crate::Cache::evict)).
    /// Default = no tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<Key>) -> Self {
        self.opts = self.opts.tag(tag);
        self
    }

    /// Whether the arguments' type is part of the key. Default = false.
    #[must_use]
    pub fn typed(mut self, typed: bool) -> Self {
        self.typed = typed;
        self
    }

    /// The key a call with `args` uses (to delete or refresh one result).
    pub fn key<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        call_key(&self.name, self.typed, args)
    }

    /// The stored result for `args`, or `f()` stored and returned.
    pub fn get_or_compute<A, V>(&self, args: &A, f: impl FnOnce() -> V) -> Result<V>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
    {
        get_or_insert_with(&self.store, &self.key(args)?, &self.opts, f)
    }
}

/// The value under `key`, or `f()` stored (with `opts`) and returned.
///
/// ```
/// use diskcache::{Cache, Key, SetOptions};
/// use diskcache::recipes::get_or_insert_with;
/// let cache = Cache::builder().open_temp()?;
/// let key = Key::from_value("settings")?;
/// let v: u32 = get_or_insert_with(&cache, &key, &SetOptions::new(), || 7)?;
/// assert_eq!(v, 7);
/// # Ok::<(), diskcache::Error>(())
/// ```
pub fn get_or_insert_with<S: DiskCache, V: Serialize + DeserializeOwned + 'static>(
    store: &S,
    key: &Key,
    opts: &SetOptions,
    f: impl FnOnce() -> V,
) -> Result<V> {
    if let Some(entry) = store.get_entry::<V>(key)? {
        return Ok(entry.value);
    }
    let value = f();
    store.set_with(key, &value, opts)?;
    Ok(value)
}

/// A uniform random number in (0, 1], without a generator to carry around.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Memoization with stampede protection (python-diskcache's
/// `memoize_stampede`, "early probabilistic recomputation"), on a [`Memo`]
/// whose name, expiry, tag and typing it keeps.
///
/// Each result is stored with the time its computation took. A caller that
/// finds a result recomputes it early, before it expires, with a
/// probability that rises as expiry nears: when `-delta · beta · ln(u)`
/// (`u` uniform in (0, 1], `delta` the computation time) exceeds the time
/// left. Only one caller at a time does so (the others keep returning the
/// stored result), so a hot key is refreshed without a burst of
/// recomputation and without locks. On a cold key the first caller computes
/// and the others wait for its result, up to the lease; after that they
/// compute themselves.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::{Memo, Stampede};
/// use std::time::Duration;
///
/// let cache = Cache::builder().open_temp()?;
/// let report = Stampede::new(Memo::new(cache, "report").expire(Duration::from_secs(300)));
/// let total: u64 = report.get_or_compute(&"2026-11", || (1..=100).sum())?;
/// assert_eq!(total, 5050);
/// # Ok::<(), diskcache::Error>(())
/// ```
#[derive(Clone)]
pub struct Stampede<S: DiskCache> {
    memo: Memo<S>,
    beta: f64,
    lease: Duration,
}

/// The memo and the recomputation settings.
impl<S: DiskCache> std::fmt::Debug for Stampede<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stampede")
            .field("memo", &self.memo)
            .field("beta", &self.beta)
            .field("lease", &self.lease)
            .finish()
    }
}

impl<S: DiskCache> Stampede<S> {
    /// Stampede protection for the results `memo` stores (give it an
    /// expiry: without one, results are never recomputed).
    pub fn new(memo: Memo<S>) -> Self {
        Stampede {
            memo,
            beta: 1.0,
            lease: Duration::from_secs(10),
        }
    }

    /// Larger values recompute earlier. Default = 1.
    #[must_use]
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// How long other callers wait for the first computation of a cold
    /// key before computing themselves. Default = 10 s.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The key a call with `args` uses.
    pub fn key<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        self.memo.key(args)
    }

    /// The key that marks a computation in progress.
    fn marker<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        call_key(
            &format!("{}\u{0}computing", self.memo.name),
            self.memo.typed,
            args,
        )
    }

    /// Computes with `f`, timing it, and stores the result with the time.
    fn compute<V: Serialize>(&self, key: &Key, f: impl FnOnce() -> V) -> Result<V> {
        let started = Instant::now();
        let value = f();
        let delta = started.elapsed().as_secs_f64();
        self.memo
            .store
            .set_with(key, &(&value, delta), &self.memo.opts)?;
        Ok(value)
    }

    /// The stored result for `args` (recomputed early now and then), or
    /// `f()` stored and returned.
    pub fn get_or_compute<A, V>(&self, args: &A, f: impl FnOnce() -> V) -> Result<V>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
    {
        let key = self.key(args)?;
        let marker = self.marker(args)?;
        let deadline = Instant::now() + self.lease;
        loop {
            if let Some(entry) = self.memo.store.get_entry::<(V, f64)>(&key)? {
                let (value, delta) = entry.value;
                let left = entry
                    .expire_time
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(f64::INFINITY, |t| t.as_secs_f64() - now());
                if -delta * self.beta * random_unit().ln() < left {
                    return Ok(value);
                }
                // Early recomputation, by one caller at a time.
                let lease = Duration::from_secs_f64(delta.max(0.001));
                if self
                    .memo
                    .store
                    .add_with(&marker, &(), &SetOptions::new().expire(lease))?
                {
                    let fresh = self.compute(&key, f);
                    self.memo.store.delete(&marker)?;
                    return fresh;
                }
                return Ok(value);
            }
            // Cold: the caller that marks the key computes; the others wait.
            if Instant::now() >= deadline
                || self
                    .memo
                    .store
                    .add_with(&marker, &(), &SetOptions::new().expire(self.lease))?
            {
                let fresh = self.compute(&key, f);
                self.memo.store.delete(&marker)?;
                return fresh;
            }
            std::thread::sleep(POLL);
        }
    }
}
