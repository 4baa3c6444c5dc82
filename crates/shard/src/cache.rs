//! [`Cache`]: the handle, and the operations on single entries.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::access::Pending;
use crate::builder::CacheBuilder;
use crate::codec::{Key, decode_raw, encode, unpack};
use crate::conn::Connections;
use crate::error::{Error, Result};
use crate::files::{self, ValueBytes};
use crate::settings::{EvictionPolicy, Settings, Synchronous};
use crate::txn::TxnState;
use crate::{busy, schema};

/// `mode` column: the value is in the `value` column as SQLite stores it.
pub(crate) const MODE_RAW: i64 = 1;
/// `mode` column: bytes in a file.
pub(crate) const MODE_BINARY: i64 = 2;
/// `mode` column: UTF-8 text in a file.
pub(crate) const MODE_TEXT: i64 = 3;
/// `mode` column: a Python pickle (never decoded here).
pub(crate) const MODE_PICKLE: i64 = 4;
/// `mode` column: MessagePack, inline or in a file (this library only).
pub(crate) const MODE_PACKED: i64 = 5;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const GET: &str = "SELECT rowid, mode, filename, value, size, expire_time, tag FROM Cache \
                   WHERE key = ?1 AND raw = ?2 AND (expire_time IS NULL OR expire_time > ?3)";
const FIND: &str = "SELECT rowid, filename, expire_time FROM Cache WHERE key = ?1 AND raw = ?2";
const INSERT: &str = "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, \
                      access_count, tag, size, mode, filename, value) \
                      VALUES (?1, ?2, ?3, ?4, ?3, 0, ?5, ?6, ?7, ?8, ?9)";
const UPDATE: &str = "UPDATE Cache SET store_time = ?1, expire_time = ?2, access_time = ?1, \
                      access_count = 0, tag = ?3, size = ?4, mode = ?5, filename = ?6, value = ?7 \
                      WHERE rowid = ?8";
/// A set in one statement, when the key is new or its current value has no
/// file (the common case); it changes nothing when the current value has a
/// file, which the caller must then find and remove. (No `RETURNING rowid`:
/// it costs about a microsecond, and the rowid is needed only by a cull by
/// policy, which looks it up.)
const UPSERT: &str = "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, \
                      access_count, tag, size, mode, filename, value) \
                      VALUES (?1, ?2, ?3, ?4, ?3, 0, ?5, ?6, ?7, ?8, ?9) \
                      ON CONFLICT (key, raw) DO UPDATE SET store_time = ?3, expire_time = ?4, \
                      access_time = ?3, access_count = 0, tag = ?5, size = ?6, mode = ?7, \
                      filename = ?8, value = ?9 WHERE Cache.filename IS NULL";
pub(crate) const DELETE_ROW: &str = "DELETE FROM Cache WHERE rowid = ?1";

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
    pub(crate) settings: Settings,
    pub(crate) statistics: AtomicBool,
    pub(crate) tag_index: AtomicBool,
    pub(crate) page_size: u64,
    pub(crate) timeout: Duration,
    pub(crate) retry: bool,
    pub(crate) pending: Pending,
    /// The expired-rows query of a cull on write. LIMITs are literals
    /// throughout: SQLite plans with the LIMIT's value, so a bound LIMIT
    /// makes it re-prepare the statement whenever the value changes.
    pub(crate) cull_expired_sql: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let batch = self.pending.take();
        if batch.is_empty() {
            return;
        }
        busy::set_timeout(self.timeout);
        if let Ok(conn) = self.conns.get() {
            if crate::txn::begin(&conn).is_ok() {
                if batch.apply(&conn, self.settings.eviction_policy).is_ok() {
                    let _ = crate::txn::commit(&conn);
                }
                crate::txn::rollback(&conn);
            }
        }
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
}

impl SetOptions {
    /// No expiry, no tag.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry expires this long after it is written. Default = never.
    pub fn expire(mut self, after: Duration) -> Self {
        self.expire = Some(after);
        self
    }

    /// Tags the entry (see [`Cache::evict`]). Default = no tag.
    pub fn tag(mut self, tag: impl Into<Key>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    fn expire_time(&self, now: f64) -> Option<f64> {
        self.expire.map(|d| now + d.as_secs_f64())
    }

    fn tag_value(&self) -> Option<Value> {
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

/// A value ready to be written into a row.
pub(crate) struct Stored {
    pub(crate) size: i64,
    pub(crate) mode: i64,
    pub(crate) filename: Option<String>,
    pub(crate) value: Value,
}

/// The existing row of a key.
pub(crate) struct Found {
    pub(crate) rowid: i64,
    pub(crate) filename: Option<String>,
    pub(crate) expire: Option<f64>,
}

impl Found {
    fn is_live(&self, now: f64) -> bool {
        self.expire.is_none_or(|t| t > now)
    }
}

/// The row a write just wrote, which its own cull must keep.
pub(crate) enum Written<'a> {
    /// Known by rowid.
    Row(i64),
    /// Known by key (looked up only if a cull by policy needs it).
    Key(&'a Key),
}

/// What a write puts into a row.
pub(crate) struct Put<'a> {
    pub(crate) now: f64,
    pub(crate) opts: &'a SetOptions,
    pub(crate) stored: &'a Stored,
}

/// A value read from a row: decoded already, or still in its file.
pub(crate) enum Fetched<V> {
    Ready(V),
    File { mode: i64, name: String },
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

/// Decodes the value columns `(mode, filename, value)` starting at `at`.
pub(crate) fn fetch<V: DeserializeOwned>(row: &Row<'_>, at: usize) -> Result<Fetched<V>> {
    let mode: i64 = row.get(at)?;
    let filename: Option<String> = row.get(at + 1)?;
    if let Some(name) = filename {
        return match mode {
            MODE_PICKLE => Err(Error::Pickled),
            MODE_BINARY | MODE_TEXT | MODE_PACKED => Ok(Fetched::File { mode, name }),
            other => Err(Error::corrupt(format!("unknown value mode {other}"))),
        };
    }
    let value = row.get_ref(at + 2)?;
    match mode {
        MODE_RAW => Ok(Fetched::Ready(decode_raw(value)?)),
        MODE_PACKED => Ok(Fetched::Ready(unpack(
            value.as_blob().map_err(rusqlite::Error::from)?,
        )?)),
        MODE_PICKLE => Err(Error::Pickled),
        other => Err(Error::corrupt(format!(
            "unknown value mode {other} without a file"
        ))),
    }
}

/// Runs `f` on the live (unexpired) row of `key`, if there is one. The
/// row's columns are those of `GET`.
pub(crate) fn with_live_row<T>(
    conn: &Connection,
    key: &Key,
    now: f64,
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let (k, raw) = key.to_sql();
    let mut stmt = conn.prepare_cached(GET)?;
    let mut rows = stmt.query(params![k, raw, now])?;
    match rows.next()? {
        Some(row) => f(row).map(Some),
        None => Ok(None),
    }
}

/// Decodes the bytes of a value file.
fn decode_file<V: DeserializeOwned>(mode: i64, bytes: &[u8]) -> Result<V> {
    match mode {
        MODE_BINARY => decode_raw(ValueRef::Blob(bytes)),
        MODE_TEXT => decode_raw(ValueRef::Text(bytes)),
        MODE_PACKED => unpack(bytes),
        MODE_PICKLE => Err(Error::Pickled),
        other => Err(Error::corrupt(format!("unknown value mode {other}"))),
    }
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
        let conns = Connections::new(db, settings.connection_pragmas(), timeout);
        let cull_expired_sql = format!(
            "SELECT rowid, filename FROM Cache WHERE expire_time IS NOT NULL \
             AND expire_time < ?1 ORDER BY expire_time LIMIT {}",
            settings.cull_limit
        );
        Ok(Cache {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                statistics: AtomicBool::new(settings.statistics),
                tag_index: AtomicBool::new(settings.tag_index),
                dir,
                conns,
                settings,
                page_size,
                timeout,
                retry: builder.handle_retry(),
                pending: Pending::default(),
                cull_expired_sql,
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
        s.statistics = self.inner.statistics.load(Ordering::Relaxed);
        s.tag_index = self.inner.tag_index.load(Ordering::Relaxed);
        s
    }

    fn policy(&self) -> EvictionPolicy {
        self.inner.settings.eviction_policy
    }

    /// Encodes a value for a row, writing its file first when it is large.
    pub(crate) fn store(&self, value: Key) -> Result<Stored> {
        let min = self.inner.settings.disk_min_file_size;
        let durable = self.inner.settings.sqlite_synchronous == Synchronous::Full;
        let (mode, bytes) = match value {
            Key::Int(i) => return Ok(raw_stored(Value::Integer(i))),
            Key::Real(r) => return Ok(raw_stored(Value::Real(r))),
            Key::Text(t) if (t.len() as u64) < min => return Ok(raw_stored(Value::Text(t))),
            Key::Bytes(b) if (b.len() as u64) < min => return Ok(raw_stored(Value::Blob(b))),
            Key::Packed(b) if (b.len() as u64) < min => {
                return Ok(Stored {
                    size: 0,
                    mode: MODE_PACKED,
                    filename: None,
                    value: Value::Blob(b),
                });
            }
            Key::Text(t) => (MODE_TEXT, t.into_bytes()),
            Key::Bytes(b) => (MODE_BINARY, b),
            Key::Packed(b) => (MODE_PACKED, b),
        };
        let (name, size) = files::write_new(&self.inner.dir, &mut bytes.as_slice(), durable)?;
        Ok(file_stored(mode, name, size))
    }

    /// Removes a value file written for a write that did not happen.
    pub(crate) fn discard(&self, stored: &Stored) {
        if let Some(name) = &stored.filename {
            files::remove(&self.inner.dir, name);
        }
    }

    /// Writes the row for `key` in one statement unless its current value
    /// has a file; returns whether it was written.
    fn upsert(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        key: &Key,
        put: &Put<'_>,
    ) -> Result<bool> {
        let Put { now, opts, stored } = *put;
        let (key, raw) = key.to_sql();
        let changed = conn.prepare_cached(UPSERT)?.execute(params![
            key,
            raw,
            now,
            opts.expire_time(now),
            opts.tag_value(),
            stored.size,
            stored.mode,
            stored.filename,
            stored.value
        ])?;
        if changed == 0 {
            return Ok(false);
        }
        if let Some(name) = &stored.filename {
            st.created.push(name.clone());
        }
        Ok(true)
    }

    /// Writes the row for `key`: updates the existing one (its old file
    /// becomes obsolete) or inserts a new one. Returns the rowid.
    pub(crate) fn put_row(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        key: &Key,
        existing: Option<Found>,
        put: &Put<'_>,
    ) -> Result<i64> {
        let Put { now, opts, stored } = *put;
        let (key, raw) = key.to_sql();
        let expire = opts.expire_time(now);
        let tag = opts.tag_value();
        if let Some(name) = &stored.filename {
            st.created.push(name.clone());
        }
        let rowid = match existing {
            Some(Found {
                rowid,
                filename: old_file,
                ..
            }) => {
                conn.prepare_cached(UPDATE)?.execute(params![
                    now,
                    expire,
                    tag,
                    stored.size,
                    stored.mode,
                    stored.filename,
                    stored.value,
                    rowid
                ])?;
                st.obsolete.extend(old_file);
                rowid
            }
            None => {
                conn.prepare_cached(INSERT)?.execute(params![
                    key,
                    raw,
                    now,
                    expire,
                    tag,
                    stored.size,
                    stored.mode,
                    stored.filename,
                    stored.value
                ])?;
                conn.last_insert_rowid()
            }
        };
        self.cull_on_write(conn, st, now, Written::Row(rowid), stored.size)?;
        Ok(rowid)
    }

    /// The row for `key`, expired or not.
    pub(crate) fn find(conn: &Connection, key: &Key) -> Result<Option<Found>> {
        let (k, raw) = key.to_sql();
        let mut stmt = conn.prepare_cached(FIND)?;
        let mut rows = stmt.query(params![k, raw])?;
        match rows.next()? {
            Some(row) => Ok(Some(Found {
                rowid: row.get(0)?,
                filename: row.get(1)?,
                expire: row.get(2)?,
            })),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set(&42, &vec![1u8, 2, 3])?;
    /// assert_eq!(cache.get::<Vec<u8>>(&42)?, Some(vec![1, 2, 3]));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn set<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<()> {
        self.set_with(key, value, &SetOptions::default())
    }

    /// Stores `value` under `key` with an expiry and/or tag.
    pub fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<()> {
        let key = encode(key)?;
        let stored = self.store(encode(value)?)?;
        self.set_stored(&key, stored, opts)
    }

    /// Stores the bytes `reader` yields under `key`, streaming them into a
    /// value file without holding them in memory. Returns the byte count.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// let data = vec![7u8; 1 << 20];
    /// assert_eq!(cache.set_reader("big", &mut data.as_slice(), &Default::default())?, 1 << 20);
    /// let read = cache.read("big")?.expect("stored");
    /// assert!(read.is_mapped());
    /// assert_eq!(&read[..], &data[..]);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn set_reader<K: Serialize + ?Sized>(
        &self,
        key: &K,
        reader: &mut dyn Read,
        opts: &SetOptions,
    ) -> Result<u64> {
        let key = encode(key)?;
        let durable = self.inner.settings.sqlite_synchronous == Synchronous::Full;
        let (name, size) = files::write_new(&self.inner.dir, reader, durable)?;
        self.set_stored(&key, file_stored(MODE_BINARY, name, size), opts)?;
        Ok(size)
    }

    fn set_stored(&self, key: &Key, stored: Stored, opts: &SetOptions) -> Result<()> {
        let result = self.write(|conn, st| {
            let put = Put {
                now: now(),
                opts,
                stored: &stored,
            };
            if self.upsert(conn, st, key, &put)? {
                return self.cull_on_write(conn, st, put.now, Written::Key(key), stored.size);
            }
            let existing = Self::find(conn, key)?;
            self.put_row(conn, st, key, existing, &put)?;
            Ok(())
        });
        if result.is_err() {
            self.discard(&stored);
        }
        result
    }

    /// Stores `value` only if `key` is absent (or expired), atomically.
    /// Returns whether it was stored.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// assert!(cache.add("k", &1)?);
    /// assert!(!cache.add("k", &2)?);
    /// assert_eq!(cache.get::<i64>("k")?, Some(1));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn add<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<bool> {
        self.add_with(key, value, &SetOptions::default())
    }

    /// [`add`](Cache::add) with an expiry and/or tag.
    pub fn add_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        opts: &SetOptions,
    ) -> Result<bool> {
        let key = encode(key)?;
        let stored = self.store(encode(value)?)?;
        let result = self.write(|conn, st| {
            let now = now();
            let existing = Self::find(conn, &key)?;
            if existing.as_ref().is_some_and(|f| f.is_live(now)) {
                return Ok(false);
            }
            self.put_row(
                conn,
                st,
                &key,
                existing,
                &Put {
                    now,
                    opts,
                    stored: &stored,
                },
            )?;
            Ok(true)
        });
        if !matches!(result, Ok(true)) {
            self.discard(&stored);
        }
        result
    }

    /// The value stored under `key`, or `None` when it is absent or expired.
    /// A value of another type is an [`Error::TypeMismatch`].
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set("n", &7)?;
    /// assert_eq!(cache.get::<i64>("n")?, Some(7));
    /// assert_eq!(cache.get::<i64>("missing")?, None);
    /// assert!(cache.get::<String>("n").is_err());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn get<V: DeserializeOwned>(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<V>> {
        Ok(self.lookup(key)?.map(|entry| entry.value))
    }

    /// The value with its expiry time and tag.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::{Cache, Key, SetOptions};
    /// let cache = Cache::builder().open_temp()?;
    /// cache.set_with("k", "v", &SetOptions::new().expire(Duration::from_secs(9)).tag("t"))?;
    /// let entry = cache.get_entry::<String>("k")?.expect("present");
    /// assert_eq!(entry.value, "v");
    /// assert!(entry.expire_time.is_some());
    /// assert_eq!(entry.tag, Some(Key::Text("t".into())));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn get_entry<V: DeserializeOwned>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        self.lookup(key)
    }

    fn lookup<V: DeserializeOwned>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        let key = encode(key)?;
        let now = now();
        let found = self.with_conn(|conn| {
            with_live_row(conn, &key, now, |row| {
                let rowid: i64 = row.get(0)?;
                let fetched = fetch::<V>(row, 1)?;
                let expire: Option<f64> = row.get(5)?;
                let tag = match row.get_ref(6)? {
                    ValueRef::Null => None,
                    v => Some(Key::from_sql(v, true)?),
                };
                Ok((rowid, fetched, expire, tag))
            })
        })?;
        let result = match found {
            None => None,
            Some((rowid, fetched, expire, tag)) => self.finish(fetched)?.map(|value| {
                let entry = Entry {
                    value,
                    expire_time: to_system_time(expire),
                    tag,
                };
                (rowid, entry)
            }),
        };
        let hit = result.as_ref().map(|(rowid, _)| *rowid);
        self.record_read(hit, now);
        Ok(result.map(|(_, v)| v))
    }

    /// Reads a file-backed value; `None` when the file vanished (the entry
    /// was removed by another handle after we read its row).
    pub(crate) fn finish<V: DeserializeOwned>(&self, fetched: Fetched<V>) -> Result<Option<V>> {
        match fetched {
            Fetched::Ready(v) => Ok(Some(v)),
            Fetched::File { mode, name } => match files::read(&self.inner.dir, &name)? {
                Some(bytes) => Ok(Some(decode_file(mode, &bytes)?)),
                None => Ok(None),
            },
        }
    }

    /// Notes a read for statistics and the access-ordered policies.
    fn record_read(&self, hit: Option<i64>, now: f64) {
        let stats = self.inner.statistics.load(Ordering::Relaxed);
        let track = self.policy().tracks_access();
        if !stats && !track {
            return;
        }
        let rowid = if track { hit } else { None };
        if self.inner.pending.record(hit.is_some(), stats, rowid, now) {
            let _ = self.flush_pending();
        }
    }

    /// Writes pending access records and statistics.
    pub(crate) fn flush_pending(&self) -> Result<()> {
        let batch = self.inner.pending.take();
        if batch.is_empty() {
            return Ok(());
        }
        let policy = self.policy();
        match self.write(|conn, _| batch.apply(conn, policy)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.pending.restore(batch);
                Err(e)
            }
        }
    }

    /// The value's bytes: a memory map of its file when it is file-backed
    /// (zero-copy), else a copy of the bytes or text in the database.
    /// Numbers and MessagePack values are a [`Error::TypeMismatch`].
    ///
    /// A mapped file is never modified by the cache, and removing the entry
    /// leaves an existing map valid. A process outside the cache that
    /// truncates the file while it is mapped makes access fault.
    pub fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>> {
        let key = encode(key)?;
        let now = now();
        let found = self.with_conn(|conn| {
            with_live_row(conn, &key, now, |row| {
                let rowid: i64 = row.get(0)?;
                let mode: i64 = row.get(1)?;
                let name: Option<String> = row.get(2)?;
                let size: i64 = row.get(4)?;
                let bytes: std::result::Result<Vec<u8>, (String, i64)> =
                    match (mode, name, row.get_ref(3)?) {
                        (MODE_BINARY | MODE_TEXT, Some(name), _) => Err((name, size)),
                        (MODE_RAW, None, ValueRef::Blob(b) | ValueRef::Text(b)) => Ok(b.to_vec()),
                        (MODE_PICKLE, _, _) => return Err(Error::Pickled),
                        _ => return Err(Error::mismatch("value is not bytes or text")),
                    };
                Ok((rowid, bytes))
            })
        })?;
        let result = match found {
            None => None,
            Some((rowid, Ok(bytes))) => Some((rowid, ValueBytes::Owned(bytes))),
            Some((rowid, Err((name, size)))) => {
                let size = u64::try_from(size).map_err(|_| Error::corrupt("negative size"))?;
                files::map(&self.inner.dir, &name, size)?.map(|m| (rowid, m))
            }
        };
        self.record_read(result.as_ref().map(|(r, _)| *r), now);
        Ok(result.map(|(_, b)| b))
    }

    /// Whether `key` is present and not expired.
    pub fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        let key = encode(key)?;
        let now = now();
        self.with_conn(|conn| {
            let (k, raw) = key.to_sql();
            let mut stmt = conn.prepare_cached(
                "SELECT 1 FROM Cache WHERE key = ?1 AND raw = ?2 \
                 AND (expire_time IS NULL OR expire_time > ?3)",
            )?;
            Ok(stmt.exists(params![k, raw, now])?)
        })
    }

    /// Sets a new expiry on a present entry (`None`: never expires).
    /// Returns whether the entry was present.
    pub fn touch(&self, key: &(impl Serialize + ?Sized), expire: Option<Duration>) -> Result<bool> {
        let key = encode(key)?;
        self.write(|conn, _| {
            let now = now();
            match Self::find(conn, &key)? {
                Some(found) if found.is_live(now) => {
                    let rowid = found.rowid;
                    let expire_time = expire.map(|d| now + d.as_secs_f64());
                    conn.prepare_cached("UPDATE Cache SET expire_time = ?1 WHERE rowid = ?2")?
                        .execute(params![expire_time, rowid])?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    /// Removes `key`. Returns whether it was present (and not expired).
    pub fn delete(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        let key = encode(key)?;
        self.write(|conn, st| {
            let now = now();
            match Self::find(conn, &key)? {
                Some(found) if found.is_live(now) => {
                    conn.prepare_cached(DELETE_ROW)?.execute([found.rowid])?;
                    st.obsolete.extend(found.filename);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    /// Removes `key` and returns its value. A value of another type is an
    /// error and the entry stays.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set("k", "v")?;
    /// assert_eq!(cache.pop::<String>("k")?.as_deref(), Some("v"));
    /// assert_eq!(cache.pop::<String>("k")?, None);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn pop<V: DeserializeOwned>(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<V>> {
        let key = encode(key)?;
        self.write(|conn, st| {
            let found = with_live_row(conn, &key, now(), |row| {
                let value = self.finish(fetch::<V>(row, 1)?)?;
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<String>>(2)?,
                    value,
                ))
            })?;
            let Some((rowid, file, value)) = found else {
                return Ok(None);
            };
            conn.prepare_cached(DELETE_ROW)?.execute([rowid])?;
            st.obsolete.extend(file);
            Ok(value)
        })
    }

    /// Adds `delta` to the integer stored under `key`, atomically, and
    /// returns the new value. An absent key starts from `default`, or is
    /// [`Error::NotFound`] when `default` is `None`; a stored value that is
    /// not an integer is [`Error::TypeMismatch`].
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// assert_eq!(cache.incr("hits", 1, Some(0))?, 1);
    /// assert_eq!(cache.incr("hits", 5, Some(0))?, 6);
    /// assert_eq!(cache.decr("hits", 2, Some(0))?, 4);
    /// assert!(cache.incr("absent", 1, None).is_err());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn incr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        let key = encode(key)?;
        self.write(|conn, st| {
            let now = now();
            let (k, raw) = key.to_sql();
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, expire_time, filename, mode, value FROM Cache WHERE key = ?1 AND raw = ?2",
            )?;
            let mut rows = stmt.query(params![k, raw])?;
            let current = match rows.next()? {
                Some(row) => {
                    let rowid: i64 = row.get(0)?;
                    let expire: Option<f64> = row.get(1)?;
                    let file: Option<String> = row.get(2)?;
                    if expire.is_some_and(|t| t <= now) {
                        Err(Some(Found { rowid, filename: file, expire }))
                    } else {
                        match (row.get::<_, i64>(3)?, row.get_ref(4)?) {
                            (MODE_RAW, ValueRef::Integer(i)) => Ok((rowid, i)),
                            _ => return Err(Error::mismatch("incr on a value that is not an integer")),
                        }
                    }
                }
                None => Err(None),
            };
            drop(rows);
            match current {
                Ok((rowid, value)) => {
                    let value = value.checked_add(delta).ok_or(Error::Overflow)?;
                    let access = match self.policy() {
                        EvictionPolicy::LeastRecentlyUsed => ", access_time = ?1",
                        EvictionPolicy::LeastFrequentlyUsed => ", access_count = access_count + 1",
                        _ => "",
                    };
                    let sql = format!("UPDATE Cache SET store_time = ?1, value = ?2{access} WHERE rowid = ?3");
                    conn.prepare_cached(&sql)?.execute(params![now, value, rowid])?;
                    Ok(value)
                }
                Err(existing) => {
                    let value = default.ok_or(Error::NotFound)?.checked_add(delta).ok_or(Error::Overflow)?;
                    let stored = raw_stored(Value::Integer(value));
                    let put = Put { now, opts: &SetOptions::default(), stored: &stored };
                    self.put_row(conn, st, &key, existing, &put)?;
                    Ok(value)
                }
            }
        })
    }

    /// Subtracts `delta`; see [`incr`](Cache::incr).
    pub fn decr(
        &self,
        key: &(impl Serialize + ?Sized),
        delta: i64,
        default: Option<i64>,
    ) -> Result<i64> {
        self.incr(key, delta.checked_neg().ok_or(Error::Overflow)?, default)
    }

    /// The number of entries, expired ones included until they are culled.
    pub fn len(&self) -> Result<u64> {
        self.metadata("count")
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    pub(crate) fn metadata(&self, name: &str) -> Result<u64> {
        self.with_conn(|conn| {
            let v: i64 = conn
                .prepare_cached("SELECT value FROM Settings WHERE key = ?1")?
                .query_row([name], |r| r.get(0))?;
            Ok(u64::try_from(v).unwrap_or(0))
        })
    }
}

fn raw_stored(value: Value) -> Stored {
    Stored {
        size: 0,
        mode: MODE_RAW,
        filename: None,
        value,
    }
}

fn file_stored(mode: i64, name: String, size: u64) -> Stored {
    Stored {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        mode,
        filename: Some(name),
        value: Value::Null,
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
