//! Cross-process synchronization: [`Lock`], [`RLock`] and
//! [`BoundedSemaphore`], each kept in one cache entry, with RAII guards
//! that own what they hold (`Send + 'static`: a guard can move to another
//! thread). Each primitive is a cache handle and a name, cheap to clone;
//! clones are the same lock.
//!
//! Waiting polls the entry every millisecond (as python-diskcache does).
//! Each primitive takes an optional expiry: a holder that crashes without
//! releasing blocks the others at most that long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_shard::{Key, SetOptions};

use crate::DiskCache;

use crate::{Error, Result};

/// Pause between attempts while waiting.
const POLL: Duration = Duration::from_millis(1);

/// Retries `attempt` every [`POLL`] until it yields something or `timeout`
/// passes ([`Error::WaitTimeout`] naming `name`).
fn poll<T>(
    name: &Key,
    timeout: Option<Duration>,
    mut attempt: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let started = Instant::now();
    loop {
        match attempt() {
            Ok(Some(got)) => return Ok(got),
            Ok(None) => {}
            // The cache's own lock stayed busy: as good as "not free yet".
            Err(Error::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            return Err(Error::WaitTimeout {
                name: key_name(name),
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// The name a recipe's key was made from, for messages.
pub(super) fn key_name(key: &Key) -> String {
    match key {
        Key::Text(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

/// The options a hold is stored with: its own expiry, or none at all (a
/// cache's default time to live must not end a hold behind its holder's
/// back).
fn options(expire: Option<Duration>) -> SetOptions {
    match expire {
        Some(d) => SetOptions::new().expire(d),
        None => SetOptions::new().never_expire(),
    }
}

/// A name for this process and thread, for lock ownership.
fn owner() -> String {
    format!("{}:{:?}", std::process::id(), std::thread::current().id())
}

/// A token no other acquisition shares.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}:{nanos}:{}",
        owner(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a [`Guard`] gives back when it is released or dropped: a lock hold,
/// a permit. Implemented by this module's [`Lock`], [`RLock`] and
/// [`BoundedSemaphore`].
pub trait Hold {
    /// What identifies one hold.
    type Token;
    /// Gives the hold back.
    fn give_back(&self, token: &Self::Token) -> Result<()>;
}

/// One hold of a [`Lock`], [`RLock`] or [`BoundedSemaphore`]; given back
/// when dropped, or by [`release`](Guard::release), which reports failure.
///
/// A guard owns a clone of what it holds (a cache handle and a name), so it
/// borrows nothing: it is `Send + 'static` and can be returned, stored or
/// moved into another thread, which gives the hold back when done.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::Lock;
/// let cache = Cache::builder().open_temp()?;
/// let lock = Lock::new(cache, "rebuild");
/// let guard = lock.acquire()?;
/// let worker = std::thread::spawn(move || {
///     // … the work the lock protects …
///     guard.release()
/// });
/// worker.join().map_err(|_| "the worker panicked")??;
/// assert!(!lock.locked()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the hold is given back when the guard is dropped"]
pub struct Guard<H: Hold> {
    holder: H,
    token: H::Token,
    released: bool,
}

impl<H: Hold> Guard<H> {
    fn new(holder: H, token: H::Token) -> Self {
        Guard {
            holder,
            token,
            released: false,
        }
    }

    /// Gives the hold back now, reporting whether it was still held.
    ///
    /// ```
    /// use diskcache::{Cache, Error};
    /// use diskcache::recipes::Lock;
    /// use std::time::Duration;
    /// let cache = Cache::builder().open_temp()?;
    /// let lock = Lock::new(cache, "short").expire(Duration::from_millis(10));
    /// let guard = lock.acquire()?;
    /// std::thread::sleep(Duration::from_millis(50));
    /// // The hold expired: releasing reports it.
    /// assert!(matches!(guard.release(), Err(Error::NotHeld { .. })));
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.holder.give_back(&self.token)
    }

    /// What this guard holds a hold of.
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::Lock;
    /// let cache = Cache::builder().open_temp()?;
    /// let guard = Lock::new(cache, "held").acquire()?;
    /// assert!(guard.holder().locked()?);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn holder(&self) -> &H {
        &self.holder
    }
}

/// What is held, and whether it was given back.
impl<H: Hold + std::fmt::Debug> std::fmt::Debug for Guard<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("of", &self.holder)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

impl<H: Hold> Drop for Guard<H> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.holder.give_back(&self.token);
        }
    }
}

/// Holds a [`Lock`].
pub type LockGuard<S> = Guard<Lock<S>>;
/// One hold of an [`RLock`].
pub type RLockGuard<S> = Guard<RLock<S>>;
/// One permit of a [`BoundedSemaphore`].
pub type SemaphoreGuard<S> = Guard<BoundedSemaphore<S>>;

/// A mutual-exclusion lock shared by every thread and process that uses
/// the same cache and name. Cloning it is cheap (a cache handle and a
/// name); each [`LockGuard`] owns a clone.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::Lock;
/// use std::time::Duration;
///
/// let cache = Cache::builder().open_temp()?;
/// let lock = Lock::new(cache, "nightly-report").expire(Duration::from_secs(600));
/// {
///     let _guard = lock.acquire()?;
///     assert!(lock.locked()?);
///     assert!(lock.try_acquire()?.is_none());
/// } // released here
/// assert!(!lock.locked()?);
/// # Ok::<(), diskcache::Error>(())
/// ```
#[derive(Clone)]
pub struct Lock<S: DiskCache> {
    store: S,
    key: Key,
    expire: Option<Duration>,
}

/// The cache, the name and the settings.
impl<S: DiskCache> std::fmt::Debug for Lock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("cache", &self.store)
            .field("name", &key_name(&self.key))
            .field("expire", &self.expire)
            .finish()
    }
}

impl<S: DiskCache> Lock<S> {
    /// The lock named `name` in `store`.
    pub fn new(store: S, name: &str) -> Self {
        Lock {
            store,
            key: Key::Text(name.to_string()),
            expire: None,
        }
    }

    /// A holder keeps the lock at most this long. Default = until released.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self
    }

    /// Takes the lock if it is free.
    pub fn try_acquire(&self) -> Result<Option<LockGuard<S>>> {
        let token = token();
        if self
            .store
            .add_with(&self.key, &token, &options(self.expire))?
        {
            Ok(Some(Guard::new(self.clone(), token)))
        } else {
            Ok(None)
        }
    }

    /// Takes the lock, waiting as long as it takes.
    pub fn acquire(&self) -> Result<LockGuard<S>> {
        poll(&self.key, None, || self.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout` ([`Error::WaitTimeout`]).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<S>> {
        poll(&self.key, Some(timeout), || self.try_acquire())
    }

    /// Whether anyone holds the lock.
    pub fn locked(&self) -> Result<bool> {
        Ok(self.store.get_entry::<String>(&self.key)?.is_some())
    }
}

impl<S: DiskCache> Hold for Lock<S> {
    type Token = String;

    /// Releases the hold `token` has; [`Error::NotHeld`] when it has
    /// none (it expired, or was never taken).
    fn give_back(&self, token: &String) -> Result<()> {
        self.store.transact_on(&self.key, || {
            match self.store.get_entry::<String>(&self.key)? {
                Some(e) if &e.value == token => {
                    self.store.delete(&self.key)?;
                    Ok(())
                }
                _ => Err(Error::NotHeld {
                    name: key_name(&self.key),
                }),
            }
        })
    }
}

/// A lock that the thread holding it may take again (re-entrant per process
/// and thread); it is free once released as often as taken.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::RLock;
/// let cache = Cache::builder().open_temp()?;
/// let lock = RLock::new(cache, "config");
/// let outer = lock.acquire()?;
/// let inner = lock.acquire()?; // same thread: no deadlock
/// drop(inner);
/// assert!(lock.locked()?);
/// drop(outer);
/// assert!(!lock.locked()?);
/// # Ok::<(), diskcache::Error>(())
/// ```
#[derive(Clone)]
pub struct RLock<S: DiskCache> {
    store: S,
    key: Key,
    expire: Option<Duration>,
}

/// The cache, the name and the settings.
impl<S: DiskCache> std::fmt::Debug for RLock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("cache", &self.store)
            .field("name", &key_name(&self.key))
            .field("expire", &self.expire)
            .finish()
    }
}

impl<S: DiskCache> RLock<S> {
    /// The re-entrant lock named `name` in `store`.
    pub fn new(store: S, name: &str) -> Self {
        RLock {
            store,
            key: Key::Text(name.to_string()),
            expire: None,
        }
    }

    /// A holder keeps the lock at most this long. Default = until released.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self
    }

    /// Takes the lock (again) if it is free or this thread's.
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<S>>> {
        let me = owner();
        let taken = self.try_take(&me)?;
        Ok(taken.then(|| Guard::new(self.clone(), me)))
    }

    fn try_take(&self, me: &str) -> Result<bool> {
        self.store.transact_on(&self.key, || {
            let count = match self.store.get_entry::<(String, u64)>(&self.key)? {
                None => 0,
                Some(e) if e.value.0 == me => e.value.1,
                Some(_) => return Ok(false),
            };
            self.store
                .set_with(&self.key, &(me, count + 1), &options(self.expire))?;
            Ok(true)
        })
    }

    /// Takes the lock (again, if this thread holds it), waiting as needed.
    pub fn acquire(&self) -> Result<RLockGuard<S>> {
        poll(&self.key, None, || self.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<S>> {
        poll(&self.key, Some(timeout), || self.try_acquire())
    }

    /// Whether anyone holds the lock.
    pub fn locked(&self) -> Result<bool> {
        Ok(self.store.get_entry::<(String, u64)>(&self.key)?.is_some())
    }
}

impl<S: DiskCache> Hold for RLock<S> {
    /// The thread that took the hold (a guard moved to another thread
    /// gives back its taker's hold).
    type Token = String;

    fn give_back(&self, me: &String) -> Result<()> {
        self.store.transact_on(&self.key, || {
            match self.store.get_entry::<(String, u64)>(&self.key)? {
                Some(e) if &e.value.0 == me && e.value.1 > 1 => {
                    self.store.set_with(
                        &self.key,
                        &(me.as_str(), e.value.1 - 1),
                        &options(self.expire),
                    )?;
                    Ok(())
                }
                Some(e) if &e.value.0 == me => {
                    self.store.delete(&self.key)?;
                    Ok(())
                }
                _ => Err(Error::NotHeld {
                    name: key_name(&self.key),
                }),
            }
        })
    }
}

/// A semaphore of `value` permits shared by threads and processes; releasing
/// more than was acquired is an error.
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::BoundedSemaphore;
/// let cache = Cache::builder().open_temp()?;
/// let slots = BoundedSemaphore::new(cache, "downloads", 2);
/// let a = slots.acquire()?;
/// let _b = slots.acquire()?;
/// assert!(slots.try_acquire()?.is_none());
/// drop(a);
/// assert!(slots.try_acquire()?.is_some());
/// # Ok::<(), diskcache::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore<S: DiskCache> {
    store: S,
    key: Key,
    value: u64,
    expire: Option<Duration>,
}

/// The cache, the name and the settings.
impl<S: DiskCache> std::fmt::Debug for BoundedSemaphore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("cache", &self.store)
            .field("name", &key_name(&self.key))
            .field("value", &self.value)
            .field("expire", &self.expire)
            .finish()
    }
}

impl<S: DiskCache> BoundedSemaphore<S> {
    /// The semaphore named `name` with `value` permits.
    pub fn new(store: S, name: &str, value: u64) -> Self {
        BoundedSemaphore {
            store,
            key: Key::Text(name.to_string()),
            value,
            expire: None,
        }
    }

    /// The count resets to `value` permits this long after its last change
    /// (so permits of crashed holders come back). Default = never.
    #[must_use]
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self
    }

    fn available(&self) -> Result<u64> {
        Ok(self
            .store
            .get_entry::<u64>(&self.key)?
            .map_or(self.value, |e| e.value))
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<S>>> {
        let taken = self.store.transact_on(&self.key, || -> Result<bool> {
            let left = self.available()?;
            if left == 0 {
                return Ok(false);
            }
            self.store
                .set_with(&self.key, &(left - 1), &options(self.expire))?;
            Ok(true)
        })?;
        // Built only when taken: a guard's drop returns a permit.
        Ok(taken.then(|| Guard::new(self.clone(), ())))
    }

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) -> Result<SemaphoreGuard<S>> {
        poll(&self.key, None, || self.try_acquire())
    }

    /// Takes a permit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<S>> {
        poll(&self.key, Some(timeout), || self.try_acquire())
    }
}

impl<S: DiskCache> Hold for BoundedSemaphore<S> {
    type Token = ();

    fn give_back(&self, _: &()) -> Result<()> {
        self.store.transact_on(&self.key, || {
            let left = self.available()?;
            if left >= self.value {
                return Err(Error::ReleasedTooOften {
                    name: key_name(&self.key),
                });
            }
            self.store
                .set_with(&self.key, &(left + 1), &options(self.expire))?;
            Ok(())
        })
    }
}
