//! [`Averager`], [`Throttle`] and [`barrier`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_shard::{Key, SetOptions};

use super::Lock;
use super::locks::key_name;
use crate::DiskCache;

use crate::{Error, Result};

/// A running average kept in the cache, fed by any thread or process.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::Averager;
/// let cache = Cache::builder().open_temp()?;
/// let latency = Averager::new(cache, "latency-ms");
/// latency.add(10.0)?;
/// latency.add(20.0)?;
/// assert_eq!(latency.get()?, Some(15.0));
/// assert_eq!(latency.pop()?, Some(15.0));
/// assert_eq!(latency.get()?, None);
/// # Ok::<(), diskcache::Error>(())
/// ```
pub struct Averager<S: DiskCache> {
    store: S,
    key: Key,
    opts: SetOptions,
}

/// The cache, the name and the options the total is stored with.
impl<S: DiskCache> std::fmt::Debug for Averager<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Averager")
            .field("cache", &self.store)
            .field("name", &key_name(&self.key))
            .field("options", &self.opts)
            .finish()
    }
}

impl<S: DiskCache> Averager<S> {
    /// The average named `name` in `store`.
    pub fn new(store: S, name: &str) -> Self {
        Averager {
            store,
            key: Key::Text(name.to_string()),
            // Not the cache's default time to live: the total stays
            // until told otherwise.
            opts: SetOptions::new().never_expire(),
        }
    }

    /// The running total expires this long after the last addition.
    /// Default = never.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.opts = self.opts.expire(after);
        self
    }

    /// Adds one observation.
    pub fn add(&self, value: f64) -> Result<()> {
        self.store.transact_on(&self.key, || {
            let (total, count) = self
                .store
                .get_entry::<(f64, u64)>(&self.key)?
                .map_or((0.0, 0), |e| e.value);
            self.store
                .set_with(&self.key, &(total + value, count + 1), &self.opts)?;
            Ok(())
        })
    }

    /// The average so far, if anything was added.
    pub fn get(&self) -> Result<Option<f64>> {
        Ok(self
            .store
            .get_entry::<(f64, u64)>(&self.key)?
            .filter(|e| e.value.1 > 0)
            .map(|e| e.value.0 / e.value.1 as f64))
    }

    /// The average so far, and starts over.
    pub fn pop(&self) -> Result<Option<f64>> {
        self.store.transact_on(&self.key, || {
            let average = self.get()?;
            self.store.delete(&self.key)?;
            Ok(average)
        })
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// At most `count` calls per `period`, across every thread and process that
/// uses the same cache and name (a token bucket, as python-diskcache's
/// `throttle`: up to `count` calls may come in a burst, then one per
/// `period / count`).
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::Throttle;
/// use std::time::Duration;
/// let cache = Cache::builder().open_temp()?;
/// let api = Throttle::new(cache, "partner-api", 5, Duration::from_secs(1))?;
/// for _ in 0..5 {
///     assert!(api.try_acquire()?);
/// }
/// assert!(!api.try_acquire()?); // the burst is spent
/// # Ok::<(), diskcache::Error>(())
/// ```
pub struct Throttle<S: DiskCache> {
    store: S,
    key: Key,
    count: f64,
    /// Calls allowed per second.
    rate: f64,
}

/// The cache, the name and the rate.
impl<S: DiskCache> std::fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("cache", &self.store)
            .field("name", &key_name(&self.key))
            .field("count", &self.count)
            .field("per_second", &self.rate)
            .finish()
    }
}

impl<S: DiskCache> Throttle<S> {
    /// The throttle named `name`: `count` calls per `period`. A throttle
    /// already stored under the name keeps its state.
    pub fn new(store: S, name: &str, count: u32, period: Duration) -> Result<Self> {
        let key = Key::Text(name.to_string());
        let count = f64::from(count.max(1));
        store.add_with(&key, &(now(), count), &SetOptions::new().never_expire())?;
        Ok(Throttle {
            store,
            key,
            count,
            rate: count / period.as_secs_f64().max(1e-9),
        })
    }

    /// Takes a call if one is allowed now; otherwise how long until one is.
    fn take(&self) -> Result<Option<Duration>> {
        self.store.transact_on(&self.key, || {
            let now = now();
            let (last, tally) = self
                .store
                .get_entry::<(f64, f64)>(&self.key)?
                .map_or((now, self.count), |e| e.value);
            let tally = (tally + (now - last) * self.rate).min(self.count);
            if tally >= 1.0 {
                self.store.set_with(
                    &self.key,
                    &(now, tally - 1.0),
                    &SetOptions::new().never_expire(),
                )?;
                Ok(None)
            } else {
                Ok(Some(Duration::from_secs_f64((1.0 - tally) / self.rate)))
            }
        })
    }

    /// Takes a call if one is allowed now.
    pub fn try_acquire(&self) -> Result<bool> {
        Ok(self.take()?.is_none())
    }

    /// Waits until a call is allowed, then takes it.
    pub fn acquire(&self) -> Result<()> {
        self.acquire_timeout_opt(None)
    }

    /// Waits at most `timeout` for a call ([`Error::WaitTimeout`]).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.acquire_timeout_opt(Some(timeout))
    }

    fn acquire_timeout_opt(&self, timeout: Option<Duration>) -> Result<()> {
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        while let Some(wait) = self.take()? {
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::WaitTimeout {
                        name: key_name(&self.key),
                        waited: started.elapsed(),
                    });
                }
                std::thread::sleep(wait.min(d - now));
            } else {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }
}

/// Runs `f` while holding `lock`: one caller at a time across processes.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::{Lock, barrier};
/// let cache = Cache::builder().open_temp()?;
/// let lock = Lock::new(cache, "migrations");
/// let ran = barrier(&lock, || "migrated")?;
/// assert_eq!(ran, "migrated");
/// # Ok::<(), diskcache::Error>(())
/// ```
pub fn barrier<S: DiskCache, T>(lock: &Lock<S>, f: impl FnOnce() -> T) -> Result<T> {
    let guard = lock.acquire()?;
    let out = f();
    guard.release()?;
    Ok(out)
}
