//! [`CacheBuilder`]: settings chosen at open.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::settings::{EvictionPolicy, JournalMode, Settings, Synchronous};

/// The default of both [`CacheBuilder::timeout`] and
/// [`CacheBuilder::open_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A wait that does not end: some 136 years, far below what makes
/// `Instant + wait` overflow.
pub(crate) const FOREVER: Duration = Duration::from_secs(u32::MAX as u64);

/// Opens a [`Cache`] with chosen settings.
///
/// Settings that python-diskcache persists (size limit, cull limit,
/// eviction policy, statistics, tag index, min file size and the SQLite
/// pragmas) are stored in the directory's `Settings` table: a setter left
/// alone keeps the stored value (or the default on a new directory), a
/// setter called overrides and re-stores it. A stored value that is
/// damaged (of the wrong type or out of range) makes `open` fail with
/// [`Error::DamagedSetting`] naming it (inside [`Error::Open`], as every
/// error of `open`), unless its setter is called: then the stored value
/// is not read, and is replaced. Timeouts, retry and the
/// network-filesystem opt-in belong to this handle only.
///
/// ```
/// use std::time::Duration;
/// use diskcache_shard::{Cache, EvictionPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let cache = Cache::builder()
///     .size_limit(64 << 20)
///     .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
///     .timeout(Duration::from_millis(100))
///     .open(dir.path())?;
/// assert_eq!(cache.settings().size_limit, 64 << 20);
/// drop(cache);
///
/// // Reopening keeps the stored settings.
/// let again = Cache::open(dir.path())?;
/// assert_eq!(again.settings().eviction_policy, EvictionPolicy::LeastRecentlyUsed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until open is called"]
pub struct CacheBuilder {
    statistics: Option<bool>,
    tag_index: Option<bool>,
    eviction_policy: Option<EvictionPolicy>,
    size_limit: Option<u64>,
    cull_limit: Option<u64>,
    min_file_size: Option<u64>,
    auto_vacuum: Option<i64>,
    page_size: Option<u32>,
    cache_size: Option<i64>,
    journal_mode: Option<JournalMode>,
    mmap_size: Option<i64>,
    synchronous: Option<Synchronous>,
    timeout: Option<Duration>,
    open_timeout: Option<Duration>,
    retry: bool,
    allow_network_filesystem: bool,
    memo_bytes: Option<usize>,
    default_ttl: Option<Duration>,
    codec: crate::codec::Codec,
    /// Stored settings to replace by their defaults.
    reset: Vec<String>,
}

impl CacheBuilder {
    /// A builder with every setting left to the stored value or default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count hits and misses (see [`Cache::stats`]). Default = off.
    pub fn statistics(mut self, on: bool) -> Self {
        self.statistics = Some(on);
        self
    }

    /// Keep an index on tags so [`Cache::evict`] is fast. Default = off.
    pub fn tag_index(mut self, on: bool) -> Self {
        self.tag_index = Some(on);
        self
    }

    /// Which entries culling removes first. Default =
    /// [`EvictionPolicy::LeastRecentlyStored`].
    pub fn eviction_policy(mut self, policy: EvictionPolicy) -> Self {
        self.eviction_policy = Some(policy);
        self
    }

    /// The volume in bytes (database pages plus value files) above which
    /// each write culls entries. It is a soft limit: a write may leave the
    /// volume above it by up to `cull_limit` entries' worth until later
    /// writes catch up. The volume leaves out SQLite's write-ahead log,
    /// which stays near 4 MiB while writers take turns without waiting and
    /// grows to about 33 MiB while they contend for the lock (the file is
    /// kept at that size until the last connection closes). Default = 1 GiB.
    pub fn size_limit(mut self, bytes: u64) -> Self {
        self.size_limit = Some(bytes);
        self
    }

    /// How many entries one write may cull; 0 turns culling on write off
    /// ([`Cache::cull`] still works). Default = 10.
    pub fn cull_limit(mut self, entries: u64) -> Self {
        self.cull_limit = Some(entries);
        self
    }

    /// How keys and values are encoded: [`Codec::MessagePack`] (the
    /// default: native types as python-diskcache's `Disk` stores them,
    /// MessagePack for the rest) or [`Codec::Json`], python-diskcache's
    /// `JSONDisk`. The codec is not stored in the directory (python does
    /// not store its `disk=` either): open a directory with the codec it
    /// was written with. A zlib level above 9 makes `open` fail.
    ///
    /// [`Codec::MessagePack`]: crate::Codec::MessagePack
    /// [`Codec::Json`]: crate::Codec::Json
    ///
    /// ```
    /// use diskcache_shard::{Cache, Codec};
    /// use std::collections::BTreeMap;
    /// let cache = Cache::builder().codec(Codec::Json { level: 6 }).open_temp()?;
    /// let mut point = BTreeMap::new();
    /// point.insert("x".to_string(), 1);
    /// cache.set(&("a", 1), &point)?;
    /// assert_eq!(cache.get::<BTreeMap<String, i64>>(&("a", 1))?, Some(point));
    /// assert!(Cache::builder().codec(Codec::Json { level: 10 }).open_temp().is_err());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn codec(mut self, codec: crate::codec::Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Byte strings, text and MessagePack values of at least this many
    /// bytes are stored in their own file rather than in the database; 0
    /// puts every one of them in a file (as python-diskcache's
    /// `disk_min_file_size = 0` does); integers and floats always stay in
    /// the database. Default = 32 KiB.
    pub fn min_file_size(mut self, bytes: u64) -> Self {
        self.min_file_size = Some(bytes);
        self
    }

    /// SQLite `auto_vacuum` for a new database (0 none, 1 full, 2
    /// incremental); ignored once the database exists. Default = 1.
    pub fn sqlite_auto_vacuum(mut self, mode: i64) -> Self {
        self.auto_vacuum = Some(mode);
        self
    }

    /// SQLite `page_size` for a new database: a power of two from 512 to
    /// 65536 bytes; ignored once the database exists. Default = 4096.
    ///
    /// Every write logs whole pages, and the log is flushed to disk at each
    /// checkpoint, so smaller pages make writes of small values cheaper
    /// (measured with 55-byte values and 1024-byte pages: 1.5x the sets per
    /// second of one writer, 1.7-1.9x for two writer processes on caches
    /// of their own) and reads of values spanning several pages dearer (a
    /// 2 KiB value reads 1.4x slower, 8 KiB 1.5x, 30 KB 2x). See
    /// docs/benchmarks.md, "Page size".
    pub fn sqlite_page_size(mut self, bytes: u32) -> Self {
        self.page_size = Some(bytes);
        self
    }

    /// SQLite `cache_size` per connection (pages, or KiB when negative).
    /// Default = 8192.
    pub fn sqlite_cache_size(mut self, size: i64) -> Self {
        self.cache_size = Some(size);
        self
    }

    /// SQLite journal mode. Default = [`JournalMode::Wal`], which lets
    /// readers proceed while one process writes.
    pub fn sqlite_journal_mode(mut self, mode: JournalMode) -> Self {
        self.journal_mode = Some(mode);
        self
    }

    /// SQLite `mmap_size` per connection, in bytes: how much of `cache.db`
    /// SQLite reads through a memory map. Default = 0 (python-diskcache's
    /// default is 64 MiB): SQLite unmaps the whole map whenever another
    /// connection has committed since this one last read, so while
    /// processes share a cache a map costs more than the reads it saves
    /// (measured with 2 processes on an 8-shard cache: get median 3.0 µs
    /// without a map, 4.4 µs with one; see docs/benchmarks.md). A larger
    /// map helps a single process reading a `cache.db` far larger than
    /// [`sqlite_cache_size`](Self::sqlite_cache_size).
    pub fn sqlite_mmap_size(mut self, bytes: i64) -> Self {
        self.mmap_size = Some(bytes);
        self
    }

    /// Durability of a committed write. Default = [`Synchronous::Normal`]
    /// (survives a process crash); [`Synchronous::Full`] also survives a
    /// power loss, at the cost of an fsync per write.
    pub fn synchronous(mut self, mode: Synchronous) -> Self {
        self.synchronous = Some(mode);
        self
    }

    /// How long an operation waits for another connection's lock before it
    /// fails with [`Error::Timeout`]; any duration is accepted, and
    /// [`Duration::MAX`] waits for as long as it takes. Opening waits by
    /// [`open_timeout`](Self::open_timeout) instead. Default = 60 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long [`open`](Self::open) waits for another connection's lock,
    /// in all (it is not the per-operation [`timeout`](Self::timeout)).
    /// Opening reads the schema and the stored settings without taking
    /// the write lock, so it waits only when it has something to write: a
    /// new directory, a missing table, index or trigger, or a setting given
    /// here that differs from the stored one; then it queues for the write
    /// lock behind other writers (a long [`Cache::transact`], say) and
    /// fails with [`Error::Open`] around [`Error::Timeout`] once this much
    /// time has passed. Any duration is accepted; [`Duration::MAX`] waits
    /// for as long as it takes. Default = 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::Cache;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // Operations give up after 10 ms; opening (which may have to wait
    /// // for a writer in another process) after 5 s.
    /// let cache = Cache::builder()
    ///     .timeout(Duration::from_millis(10))
    ///     .open_timeout(Duration::from_secs(5))
    ///     .open(dir.path())?;
    /// cache.set("k", &1)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = Some(timeout);
        self
    }

    /// Retry a write whose lock wait timed out, instead of returning
    /// [`Error::Timeout`]. Default = off.
    pub fn retry(mut self, on: bool) -> Self {
        self.retry = on;
        self
    }

    /// A time to live for every entry this handle writes with no expiry
    /// of its own: [`Cache::set`], [`Cache::set_with`], [`Cache::add`],
    /// [`Cache::add_with`] and [`Cache::set_reader`] with
    /// [`SetOptions`](crate::SetOptions) that give no
    /// [`expire`](crate::SetOptions::expire) store the entry to expire this
    /// long after it is written; [`SetOptions::never_expire`](crate::SetOptions::never_expire)
    /// stores one that never does. Queue pushes and the counters `incr`
    /// creates keep no expiry, as python-diskcache's do. A handle option,
    /// not a stored setting: each handle (and each process) chooses its
    /// own; a [`FanoutBuilder`](https://docs.rs/diskcache-fanout) takes it
    /// through the `CacheBuilder` it is given, for every shard. Default =
    /// none (entries never expire unless told to).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use diskcache_shard::{Cache, SetOptions};
    ///
    /// let cache = Cache::builder().default_ttl(Duration::from_secs(3600)).open_temp()?;
    /// cache.set("session", "token")?;
    /// let expires = cache.get_entry::<String>("session")?.and_then(|e| e.expire_time);
    /// assert!(expires.is_some_and(|t| t > SystemTime::now()));
    /// // An expiry of its own wins; so does "never".
    /// cache.set_with("short", &1, &SetOptions::new().expire(Duration::from_secs(5)))?;
    /// cache.set_with("config", &1, &SetOptions::new().never_expire())?;
    /// assert_eq!(cache.get_entry::<i64>("config")?.map(|e| e.expire_time), Some(None));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The most bytes of keys and values this handle remembers from its
    /// reads, to answer a repeated read without SQLite while the value is
    /// unchanged (see the crate docs, "Read memo"); 0 turns it off, and
    /// then this handle's writes are not recorded for other handles' memos
    /// either, which makes those start over at each of them. Default =
    /// 4 MiB. Only inline values are remembered, and only with the WAL
    /// journal mode.
    pub fn memo_bytes(mut self, bytes: usize) -> Self {
        self.memo_bytes = Some(bytes);
        self
    }

    /// Open even when the directory is on a network filesystem (NFS, SMB,
    /// …), where SQLite's locks are unreliable and the cache can be
    /// corrupted. Default = off: such a directory is refused with
    /// [`Error::NetworkFilesystem`].
    pub fn allow_network_filesystem(mut self, on: bool) -> Self {
        self.allow_network_filesystem = on;
        self
    }

    /// Replaces the stored setting `key` (its name in the `Settings` table,
    /// as [`Error::DamagedSetting`] gives it) by its default, without
    /// reading the stored value: the repair for a damaged setting whose
    /// value the caller does not want to choose. A setter called for the
    /// same setting wins over the default. An unknown name makes `open`
    /// fail with [`Error::InvalidInput`]. Default = none.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error};
    ///
    /// let dir = tempfile::tempdir()?;
    /// Cache::open(dir.path())?.set("kept", &1)?;
    /// let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    /// db.execute("UPDATE Settings SET value = 'lots' WHERE key = 'size_limit'", [])?;
    /// let Err(Error::DamagedSetting { key, .. }) = Cache::open(dir.path()).map_err(Error::into_root)
    /// else {
    ///     panic!("opened over a damaged setting");
    /// };
    /// let cache = Cache::builder().reset_setting(&key).open(dir.path())?;
    /// assert_eq!(cache.settings().size_limit, 1 << 30);
    /// assert_eq!(cache.get::<i64>("kept")?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_setting(mut self, key: &str) -> Self {
        self.reset.push(key.to_owned());
        self
    }

    /// Opens the cache in `dir`, creating the directory and the database as
    /// needed. Any error is [`Error::Open`], naming the directory, around
    /// the cause (see [`Error::root`]).
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Cache> {
        let given = dir.as_ref();
        std::fs::create_dir_all(given)
            .and_then(|()| given.canonicalize())
            .map_err(|e| Error::open(given, Error::io(given, e)))
            .and_then(|dir| self.open_dir(dir.clone()).map_err(|e| Error::open(dir, e)))
    }

    /// Opens a cache in a new temporary directory (see
    /// [`Cache::directory`]), which is removed with everything in it when
    /// the last clone of the handle drops. Other handles opened on that
    /// directory lose it then too; a child process after `fork` never
    /// removes it.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set("k", "v")?;
    /// let dir = cache.directory().to_path_buf();
    /// assert!(dir.join("cache.db").is_file());
    /// drop(cache);
    /// assert!(!dir.exists());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn open_temp(self) -> Result<Cache> {
        let tmp = tempfile::Builder::new()
            .prefix("diskcache-")
            .tempdir()
            .map_err(|e| {
                let tmp = std::env::temp_dir();
                Error::open(&tmp, Error::io(&tmp, e))
            })?;
        let cache = self.open(tmp.path())?;
        let _ = cache.inner.temp.set(crate::cache::Temp::new(tmp));
        Ok(cache)
    }

    fn open_dir(self, dir: PathBuf) -> Result<Cache> {
        self.codec.validate()?;
        let known = Settings::default().rows();
        if let Some(key) = self
            .reset
            .iter()
            .find(|k| !known.iter().any(|(n, _)| n == k))
        {
            return Err(Error::invalid(format!(
                "no stored setting is named {key:?}"
            )));
        }
        if let Some(bytes) = self.page_size {
            if !bytes.is_power_of_two() || !(512..=65536).contains(&bytes) {
                return Err(Error::invalid(format!(
                    "sqlite_page_size must be a power of two from 512 to 65536, not {bytes}"
                )));
            }
        }
        if !self.allow_network_filesystem {
            if let Some(fs_type) = crate::netfs::network_fs(&dir) {
                return Err(Error::NetworkFilesystem { path: dir, fs_type });
            }
        }
        let codec = self.codec;
        let cache = Cache::from_builder(dir, self)?;
        // The handle is new: nobody else has set it.
        let _ = cache.inner.tunables.codec.set(codec);
        Ok(cache)
    }

    /// The per-operation lock wait. A wait longer than [`FOREVER`] is
    /// [`FOREVER`], so that no deadline computed from it overflows.
    pub(crate) fn handle_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT).min(FOREVER)
    }

    /// The lock wait of the whole open.
    pub(crate) fn handle_open_timeout(&self) -> Duration {
        self.open_timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The page size asked for a new database, if any.
    pub(crate) fn new_page_size(&self) -> Option<u32> {
        self.page_size
    }

    pub(crate) fn handle_memo_bytes(&self) -> usize {
        self.memo_bytes.unwrap_or(4 << 20)
    }

    pub(crate) fn handle_default_ttl(&self) -> Option<Duration> {
        self.default_ttl
    }

    pub(crate) fn handle_retry(&self) -> bool {
        self.retry
    }

    /// Whether the stored setting `key` (a `Settings` row name) is replaced,
    /// by a setter or by its default, so that the stored value is not read.
    pub(crate) fn overrides(&self, key: &str) -> bool {
        self.reset.iter().any(|k| k == key) || self.sets(key)
    }

    /// Whether a setter was called for the stored setting `key`.
    fn sets(&self, key: &str) -> bool {
        match key {
            "statistics" => self.statistics.is_some(),
            "tag_index" => self.tag_index.is_some(),
            "eviction_policy" => self.eviction_policy.is_some(),
            "size_limit" => self.size_limit.is_some(),
            "cull_limit" => self.cull_limit.is_some(),
            "disk_min_file_size" => self.min_file_size.is_some(),
            "sqlite_auto_vacuum" => self.auto_vacuum.is_some(),
            "sqlite_cache_size" => self.cache_size.is_some(),
            "sqlite_journal_mode" => self.journal_mode.is_some(),
            "sqlite_mmap_size" => self.mmap_size.is_some(),
            "sqlite_synchronous" => self.synchronous.is_some(),
            _ => false,
        }
    }

    /// Applies the setters that were called on top of stored settings.
    pub(crate) fn apply(&self, s: &mut Settings) {
        fn set<T: Copy>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut s.statistics, self.statistics);
        set(&mut s.tag_index, self.tag_index);
        set(&mut s.eviction_policy, self.eviction_policy);
        set(&mut s.size_limit, self.size_limit);
        set(&mut s.cull_limit, self.cull_limit);
        set(&mut s.disk_min_file_size, self.min_file_size);
        set(&mut s.sqlite_auto_vacuum, self.auto_vacuum);
        set(&mut s.sqlite_cache_size, self.cache_size);
        set(&mut s.sqlite_journal_mode, self.journal_mode);
        set(&mut s.sqlite_mmap_size, self.mmap_size);
        set(&mut s.sqlite_synchronous, self.synchronous);
    }
}
