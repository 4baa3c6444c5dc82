//! Memoization: [`Memo`] computes a value on a miss and stores it;
//! [`Stampede`] also keeps a hot key from making every caller recompute at
//! once.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_shard::{Entry, Key, SetOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DiskCache;

use crate::{Error, Result};

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

/// A [`Error::TypeMismatch`] from reading `key` as a `V` names the recipe,
/// the key and the type asked for; other errors pass through.
fn name_mismatch<V>(recipe: &str, name: &str, key: &Key, err: Error) -> Error {
    match err {
        Error::TypeMismatch { message } => Error::TypeMismatch {
            message: format!(
                "{recipe} {name:?}, key {key:?}: not a {}: {message}",
                std::any::type_name::<V>()
            ),
        },
        other => other,
    }
}

/// Takes a mutex even when a panicking holder poisoned it (what it guards
/// stays consistent: a flag and a map of in-flight keys).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One computation in progress in this process: its waiters sleep on the
/// condition variable until the flag says it ended.
#[derive(Default)]
struct Flight {
    done: Mutex<bool>,
    ended: Condvar,
}

/// Which cache (its directory) and key a computation is for.
type FlightKey = (PathBuf, String);

/// The computations in progress in this process. An entry lives only as
/// long as its computation, so the map holds no more than the keys being
/// computed right now.
fn flights() -> &'static Mutex<HashMap<FlightKey, Arc<Flight>>> {
    static FLIGHTS: OnceLock<Mutex<HashMap<FlightKey, Arc<Flight>>>> = OnceLock::new();
    FLIGHTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The right to compute one key: while it lives, other threads of this
/// process that miss the key wait. Dropping it (after a result, an error or
/// a panic) wakes them.
struct Leader {
    key: FlightKey,
    flight: Arc<Flight>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        lock(flights()).remove(&self.key);
        *lock(&self.flight.done) = true;
        self.flight.ended.notify_all();
    }
}

/// Either the right to compute `key`, or the flight of the thread that
/// already has it.
fn join_flight(key: FlightKey) -> std::result::Result<Leader, Arc<Flight>> {
    let mut map = lock(flights());
    if let Some(flight) = map.get(&key) {
        return Err(Arc::clone(flight));
    }
    let flight = Arc::new(Flight::default());
    map.insert(key.clone(), Arc::clone(&flight));
    Ok(Leader { key, flight })
}

/// Sleeps until `flight` ends or `deadline` passes.
fn wait_for(flight: &Flight, deadline: Instant) {
    let mut done = lock(&flight.done);
    while !*done {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        done = match flight.ended.wait_timeout(done, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
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
/// A computation that fails is not stored:
/// [`try_get_or_compute`](Memo::try_get_or_compute) hands its error back
/// and the next call computes again.
///
/// Threads of one process that miss the same key at the same time compute
/// it once: the first computes, the others wait for it (up to the
/// [`lease`](Memo::lease), then they compute themselves) and return what it
/// stored. If it fails or panics, the waiters wake and one of them tries
/// next. This wait does not cross processes: each process computes a cold
/// key once, so three processes that miss it together compute it three
/// times. [`Stampede`] waits across processes (and recomputes hot keys
/// before they expire).
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
    lease: Duration,
}

/// The cache, the name and the options results are stored with.
impl<S: DiskCache> std::fmt::Debug for Memo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("cache", &self.store)
            .field("name", &self.name)
            .field("options", &self.opts)
            .field("typed", &self.typed)
            .field("lease", &self.lease)
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
            lease: Duration::from_secs(10),
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

    /// How long a thread that misses a key another thread of this process
    /// is computing waits for that result before computing itself.
    /// Default = 10 s.
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::Memo;
    /// use std::time::Duration;
    /// let cache = Cache::builder().open_temp()?;
    /// let memo = Memo::new(cache, "slow").lease(Duration::from_secs(30));
    /// assert_eq!(memo.get_or_compute(&1u8, || 2u8)?, 2);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The key a call with `args` uses (to delete or refresh one result).
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::Memo;
    /// let cache = Cache::builder().open_temp()?;
    /// let memo = Memo::new(cache.clone(), "double");
    /// memo.get_or_compute(&4u32, || 8u32)?;
    /// assert_eq!(cache.get::<u32>(&memo.key(&4u32)?)?, Some(8));
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn key<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        call_key(&self.name, self.typed, args)
    }

    /// The stored result for `args`, if there is one; nothing is computed.
    /// A result stored as another type is an [`Error::TypeMismatch`] that
    /// names this memo, the key and the type asked for.
    ///
    /// ```
    /// use diskcache::{Cache, Error};
    /// use diskcache::recipes::Memo;
    /// let cache = Cache::builder().open_temp()?;
    /// let memo = Memo::new(cache, "len");
    /// assert_eq!(memo.get::<_, usize>(&"abc")?, None);
    /// memo.get_or_compute(&"abc", || 3usize)?;
    /// assert_eq!(memo.get::<_, usize>(&"abc")?, Some(3));
    /// let err = memo.get::<_, String>(&"abc").unwrap_err();
    /// assert!(matches!(err, Error::TypeMismatch { .. }));
    /// assert!(err.to_string().contains("\"len\""));
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn get<A, V>(&self, args: &A) -> Result<Option<V>>
    where
        A: Serialize + ?Sized,
        V: DeserializeOwned + 'static,
    {
        self.lookup(&self.key(args)?)
    }

    fn lookup<V: DeserializeOwned + 'static>(&self, key: &Key) -> Result<Option<V>> {
        match self.store.get_entry::<V>(key) {
            Ok(found) => Ok(found.map(|e| e.value)),
            Err(e) => Err(name_mismatch::<V>("memo", &self.name, key, e)),
        }
    }

    /// The stored result for `args`, or `f()` stored and returned.
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::Memo;
    /// let cache = Cache::builder().open_temp()?;
    /// let memo = Memo::new(cache, "upper");
    /// let s: String = memo.get_or_compute(&"abc", || "ABC".to_string())?;
    /// assert_eq!(s, "ABC");
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn get_or_compute<A, V>(&self, args: &A, f: impl FnOnce() -> V) -> Result<V>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
    {
        self.try_get_or_compute(args, || Ok::<V, Error>(f()))
    }

    /// The stored result for `args`, or the result of `f()`: stored and
    /// returned when it is `Ok`, returned and not stored when it is `Err`
    /// (the next call computes again). The caller's error type takes the
    /// cache's errors too (`From<diskcache::Error>`: `diskcache::Error`
    /// itself, `Box<dyn std::error::Error>`, `anyhow::Error`, an enum of
    /// your own).
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::Memo;
    /// let cache = Cache::builder().open_temp()?;
    /// let pages = Memo::new(cache, "page");
    /// type Res<T> = Result<T, Box<dyn std::error::Error>>;
    /// let failed: Res<String> = pages.try_get_or_compute(&"/", || Err("upstream said 503".into()));
    /// assert!(failed.is_err());
    /// assert_eq!(pages.get::<_, String>(&"/")?, None); // the error was not stored
    /// let page: Res<String> = pages.try_get_or_compute(&"/", || Ok("<h1>home</h1>".into()));
    /// assert_eq!(page?, "<h1>home</h1>");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_or_compute<A, V, E>(
        &self,
        args: &A,
        f: impl FnOnce() -> std::result::Result<V, E>,
    ) -> std::result::Result<V, E>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
    {
        let key = self.key(args)?;
        if let Some(value) = self.lookup(&key)? {
            return Ok(value);
        }
        let flight = (self.store.directory().to_path_buf(), format!("{key:?}"));
        let deadline = Instant::now() + self.lease;
        // Held until the result is stored (or the computation failed).
        let _leader = loop {
            match join_flight(flight.clone()) {
                Ok(leader) => break Some(leader),
                Err(other) => {
                    wait_for(&other, deadline);
                    if let Some(value) = self.lookup(&key)? {
                        return Ok(value);
                    }
                    if Instant::now() >= deadline {
                        break None;
                    }
                }
            }
        };
        // Another thread may have stored it between the miss and the lead.
        if let Some(value) = self.lookup(&key)? {
            return Ok(value);
        }
        let value = f()?;
        self.store.set_with(&key, &value, &self.opts)?;
        Ok(value)
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
/// A computation that fails is not stored:
/// [`try_get_or_compute`](Stampede::try_get_or_compute) hands its error back
/// (and lets the next caller compute at once).
///
/// # Stored form
///
/// Each result is stored under [`key`](Stampede::key) as the pair
/// `(value, seconds)`, MessagePack-encoded: the value and how long its
/// computation took, in seconds as an `f64`. Read it with
/// [`get`](Stampede::get), or as `(V, f64)` through the cache; a plain
/// `get::<V>` of that key is an [`Error::TypeMismatch`].
///
/// ```
/// use diskcache::Cache;
/// use diskcache::recipes::{Memo, Stampede};
/// let cache = Cache::builder().open_temp()?;
/// let squares = Stampede::new(Memo::new(cache.clone(), "square"));
/// squares.get_or_compute(&3u64, || 9u64)?;
/// assert_eq!(squares.get::<_, u64>(&3u64)?, Some(9));
/// let (value, seconds) = cache.get::<(u64, f64)>(&squares.key(&3u64)?)?.unwrap_or_default();
/// assert_eq!(value, 9);
/// assert!(seconds >= 0.0);
/// # Ok::<(), diskcache::Error>(())
/// ```
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

    /// The key a call with `args` uses (its entry holds the [stored
    /// form](Stampede#stored-form)).
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::{Memo, Stampede};
    /// let cache = Cache::builder().open_temp()?;
    /// let memo = Memo::new(cache.clone(), "n");
    /// let stampede = Stampede::new(memo.clone());
    /// assert_eq!(stampede.key(&1u8)?, memo.key(&1u8)?);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn key<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        self.memo.key(args)
    }

    /// The stored result for `args`, if there is one (read from the
    /// [stored form](Stampede#stored-form)); nothing is computed. A result
    /// stored as another type is an [`Error::TypeMismatch`] that names the
    /// memo, the key and the type asked for.
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::{Memo, Stampede};
    /// let cache = Cache::builder().open_temp()?;
    /// let report = Stampede::new(Memo::new(cache, "report"));
    /// assert_eq!(report.get::<_, String>(&"q3")?, None);
    /// report.get_or_compute(&"q3", || "ok".to_string())?;
    /// assert_eq!(report.get::<_, String>(&"q3")?.as_deref(), Some("ok"));
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn get<A, V>(&self, args: &A) -> Result<Option<V>>
    where
        A: Serialize + ?Sized,
        V: DeserializeOwned + 'static,
    {
        Ok(self.lookup::<V>(&self.key(args)?)?.map(|e| e.value.0))
    }

    fn lookup<V: DeserializeOwned + 'static>(&self, key: &Key) -> Result<Option<Entry<(V, f64)>>> {
        self.memo
            .store
            .get_entry::<(V, f64)>(key)
            .map_err(|e| name_mismatch::<(V, f64)>("stampede", &self.memo.name, key, e))
    }

    /// The key that marks a computation in progress.
    fn marker<A: Serialize + ?Sized>(&self, args: &A) -> Result<Key> {
        call_key(
            &format!("{}\u{0}computing", self.memo.name),
            self.memo.typed,
            args,
        )
    }

    /// Computes with `f`, timing it, and stores an `Ok` result with the
    /// time; the marker goes (even when `f` panics).
    fn compute<V: Serialize, E: From<Error>>(
        &self,
        key: &Key,
        marker: &Key,
        f: impl FnOnce() -> std::result::Result<V, E>,
    ) -> std::result::Result<V, E> {
        let unmark = Unmark {
            store: &self.memo.store,
            marker,
        };
        let started = Instant::now();
        let value = f()?;
        let delta = started.elapsed().as_secs_f64();
        self.memo
            .store
            .set_with(key, &(&value, delta), &self.memo.opts)?;
        unmark.now()?;
        Ok(value)
    }

    /// The stored result for `args` (recomputed early now and then), or
    /// `f()` stored and returned.
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::{Memo, Stampede};
    /// let cache = Cache::builder().open_temp()?;
    /// let cube = Stampede::new(Memo::new(cache, "cube"));
    /// assert_eq!(cube.get_or_compute(&3u64, || 27u64)?, 27);
    /// # Ok::<(), diskcache::Error>(())
    /// ```
    pub fn get_or_compute<A, V>(&self, args: &A, f: impl FnOnce() -> V) -> Result<V>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
    {
        self.try_get_or_compute(args, || Ok::<V, Error>(f()))
    }

    /// Like [`get_or_compute`](Stampede::get_or_compute), for a computation
    /// that can fail: an `Ok` result is stored and returned, an `Err` is
    /// returned and not stored (a stored result being recomputed early
    /// stays). The caller's error type takes the cache's errors too
    /// (`From<diskcache::Error>`).
    ///
    /// ```
    /// use diskcache::Cache;
    /// use diskcache::recipes::{Memo, Stampede};
    /// use std::time::Duration;
    /// let cache = Cache::builder().open_temp()?;
    /// let home = Stampede::new(Memo::new(cache, "home").expire(Duration::from_secs(60)));
    /// type Res<T> = Result<T, Box<dyn std::error::Error>>;
    /// let failed: Res<String> = home.try_get_or_compute(&"en", || Err("503".into()));
    /// assert!(failed.is_err());
    /// assert_eq!(home.get::<_, String>(&"en")?, None);
    /// let page: Res<String> = home.try_get_or_compute(&"en", || Ok("<h1>news</h1>".into()));
    /// assert_eq!(page?, "<h1>news</h1>");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_or_compute<A, V, E>(
        &self,
        args: &A,
        f: impl FnOnce() -> std::result::Result<V, E>,
    ) -> std::result::Result<V, E>
    where
        A: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
    {
        let key = self.key(args)?;
        let marker = self.marker(args)?;
        let deadline = Instant::now() + self.lease;
        loop {
            if let Some(entry) = self.lookup::<V>(&key)? {
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
                    return self.compute(&key, &marker, f);
                }
                return Ok(value);
            }
            // Cold: the caller that marks the key computes; the others wait.
            if Instant::now() >= deadline {
                return self.compute(&key, &marker, f);
            }
            if self
                .memo
                .store
                .add_with(&marker, &(), &SetOptions::new().expire(self.lease))?
            {
                // The caller that computed may have stored its result and
                // dropped its mark between this caller's look and its mark.
                if let Some(entry) = self.lookup::<V>(&key)? {
                    self.memo.store.delete(&marker)?;
                    return Ok(entry.value.0);
                }
                return self.compute(&key, &marker, f);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Deletes a computation's marker when dropped (after an error or a panic)
/// or, reporting failure, through [`now`](Unmark::now).
struct Unmark<'a, S: DiskCache> {
    store: &'a S,
    marker: &'a Key,
}

impl<S: DiskCache> Unmark<'_, S> {
    fn now(self) -> Result<()> {
        let done = self.store.delete(self.marker).map(|_| ());
        std::mem::forget(self);
        done
    }
}

impl<S: DiskCache> Drop for Unmark<'_, S> {
    fn drop(&mut self) {
        let _ = self.store.delete(self.marker);
    }
}
