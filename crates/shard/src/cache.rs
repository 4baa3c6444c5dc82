//! [`Cache`]: the handle, its options, and what a read returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;

use crate::access::Pending;
use crate::builder::CacheBuilder;
use crate::checkpoint::Checkpointer;
use crate::codec::Key;
use crate::conn::Connections;
use crate::error::Result;
use crate::files;
use crate::headroom::Headroom;
use crate::memo::Memo;
use crate::settings::{EvictionPolicy, JournalMode, Settings};
use crate::tune::Tunables;
use crate::{busy, schema};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A disk cache in one directory, shared safely by threads and processes.
///
/// A `Cache` is a cheap handle (`Clone` shares it) over a pool of SQLite
/// connections to `cache.db` in its directory; large values live in files
/// beside it. See the [crate docs](crate) for a tour.
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

// A handle is shared across threads; this fails to compile if it stops
// being `Send + Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Cache>();
};

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) dir: PathBuf,
    pub(crate) conns: Connections,
    /// The settings as opened; those a handle may change while open are
    /// in `tunables`.
    pub(crate) settings: Settings,
    pub(crate) tunables: Tunables,
    pub(crate) page_size: u64,
    pub(crate) timeout: Duration,
    pub(crate) retry: bool,
    /// The expiry of a write whose options give none.
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) pending: Pending,
    pub(crate) checkpointer: Checkpointer,
    pub(crate) memo: Memo,
    /// What the last cull found, to skip the next ones while they cannot
    /// find anything.
    pub(crate) headroom: Headroom,
    /// For a cache in a temporary directory: the directory, removed when
    /// the last handle drops (last, after the connections have closed).
    pub(crate) temp: std::sync::OnceLock<Temp>,
}

/// A temporary cache directory, removed when dropped in the process that
/// made it (a child after `fork` leaves it to its parent).
pub(crate) struct Temp {
    pid: u32,
    dir: Option<tempfile::TempDir>,
}

impl Temp {
    pub(crate) fn new(dir: tempfile::TempDir) -> Self {
        Temp {
            pid: std::process::id(),
            dir: Some(dir),
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.pid == std::process::id() {
                let _ = dir.close();
            } else {
                let _ = dir.keep();
            }
        }
    }
}

/// The directory and a summary of the settings in force, not the
/// connections and state behind them.
///
/// ```
/// let cache = diskcache_shard::Cache::builder().size_limit(1 << 20).open_temp()?;
/// let shown = format!("{cache:?}");
/// assert!(shown.starts_with("Cache { directory: "));
/// assert!(shown.contains("size_limit: 1048576"));
/// # Ok::<(), diskcache_shard::Error>(())
/// ```
impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Cache")
            .field("directory", &inner.dir)
            .field("size_limit", &inner.tunables.size())
            .field("cull_limit", &inner.tunables.cull())
            .field("eviction_policy", &inner.settings.eviction_policy)
            .field("journal_mode", &inner.settings.sqlite_journal_mode)
            .field("timeout", &inner.timeout)
            .field("retry", &inner.retry)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    /// The last handle writes the batched access records, through the one
    /// write path like every write.
    fn drop(&mut self) {
        let batch = self.pending.take();
        if batch.is_empty() {
            return;
        }
        let policy = self.settings.eviction_policy;
        let _ = self.write_path::<(), crate::Error>(self.timeout, false, |conn, state| {
            crate::txn::op(conn, &mut state.borrow_mut(), &mut |conn, st| {
                st.memo.none();
                batch.apply(conn, policy)
            })
        });
    }
}

/// Options for a write: expiry and tag.
///
/// ```
/// use std::time::Duration;
/// use diskcache_shard::{Cache, SetOptions};
/// let cache = Cache::builder().open_temp()?;
/// cache.set_with("k", &1, &SetOptions::new().expire(Duration::from_secs(60)).tag("batch-1"))?;
/// assert_eq!(cache.evict("batch-1")?, 1);
/// # Ok::<(), diskcache_shard::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct SetOptions {
    pub(crate) expire: Option<Duration>,
    pub(crate) tag: Option<Key>,
    /// No expiry, even where the cache has a default time to live.
    pub(crate) never: bool,
}

impl SetOptions {
    /// No expiry, no tag.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry expires this long after it is written. Default = the
    /// cache's [`default_ttl`](crate::CacheBuilder::default_ttl), or never.
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self.never = false;
        self
    }

    /// The entry never expires, even in a cache with a
    /// [`default_ttl`](crate::CacheBuilder::default_ttl).
    pub fn never_expire(mut self) -> Self {
        self.expire = None;
        self.never = true;
        self
    }

    /// These options with the cache's default time to live filled in
    /// where they give no expiry.
    pub(crate) fn or_ttl(&self, ttl: Option<Duration>) -> std::borrow::Cow<'_, SetOptions> {
        match ttl {
            Some(ttl) if self.expire.is_none() && !self.never => {
                std::borrow::Cow::Owned(self.clone().expire(ttl))
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Tags the entry (see [`Cache::evict`]). Default = no tag.
    pub fn tag(mut self, tag: impl Into<Key>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    pub(crate) fn expire_time(&self, now: f64) -> Option<f64> {
        self.expire.map(|d| now + d.as_secs_f64())
    }

    pub(crate) fn tag_value(&self) -> Option<Value> {
        self.tag.clone().map(Key::into_value)
    }
}

/// A value with its expiry time and tag, as [`Cache::get_entry`] returns it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry<V> {
    /// The value.
    pub value: V,
    /// When the entry expires, if it does.
    pub expire_time: Option<SystemTime>,
    /// The entry's tag, if it has one.
    pub tag: Option<Key>,
}

/// Seconds since the Unix epoch, as the format stores times.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn to_system_time(t: Option<f64>) -> Option<SystemTime> {
    t.and_then(|t| Duration::try_from_secs_f64(t).ok())
        .and_then(|d| UNIX_EPOCH.checked_add(d))
}

impl Cache {
    /// A builder to choose settings before opening.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::new()
    }

    /// Opens the cache in `dir` with stored (or default) settings.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = diskcache_shard::Cache::open(dir.path())?;
    /// cache.set("hello", "world")?;
    /// assert_eq!(cache.get::<String>("hello")?.as_deref(), Some("world"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Cache> {
        CacheBuilder::new().open(dir)
    }

    pub(crate) fn from_builder(dir: PathBuf, builder: CacheBuilder) -> Result<Cache> {
        let timeout = builder.handle_timeout();
        let db = dir.join(files::DB_NAME);
        let (settings, page_size) = schema::open(&db, &builder, timeout)?;
        let memo = Memo::new(
            &db,
            if settings.sqlite_journal_mode == JournalMode::Wal {
                builder.handle_memo_bytes()
            } else {
                0
            },
        );
        let conns = Connections::new(db, settings.connection_pragmas(), timeout);
        Ok(Cache {
            inner: Arc::new_cyclic(|owner| Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                tunables: Tunables::new(&settings),
                dir,
                conns,
                settings,
                page_size,
                timeout,
                retry: builder.handle_retry(),
                default_ttl: builder.handle_default_ttl(),
                pending: Pending::default(),
                checkpointer: Checkpointer::new(page_size, owner.clone()),
                memo,
                headroom: Headroom::default(),
                temp: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Sets this thread's lock-wait timeout to this cache's.
    pub(crate) fn prepare(&self) {
        busy::set_timeout(self.inner.timeout);
    }

    /// The cache directory.
    pub fn directory(&self) -> &Path {
        &self.inner.dir
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        let mut s = self.inner.settings.clone();
        self.inner.tunables.fill(&mut s);
        s
    }

    pub(crate) fn policy(&self) -> EvictionPolicy {
        self.inner.settings.eviction_policy
    }
}

macro_rules! key_from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for Key {
            fn from(v: $t) -> Key {
                Key::$variant($conv(v))
            }
        })*
    };
}

key_from! {
    &str => Text(str::to_owned),
    String => Text(std::convert::identity),
    i64 => Int(std::convert::identity),
    i32 => Int(i64::from),
    f64 => Real(std::convert::identity),
    &[u8] => Bytes(<[u8]>::to_vec),
    Vec<u8> => Bytes(std::convert::identity),
}
