//! The operations on single entries: set, add, get, read, contains, touch,
//! delete, pop, incr/decr and len.

use std::io::Read;
use std::time::Duration;

use rusqlite::params;
use rusqlite::types::{Value, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, Entry, SetOptions, now, to_system_time};
use crate::codec::{Codec, Key};
use crate::error::{Error, Result};
use crate::files::{self, ValueBytes};
use crate::memo::{KeyRef, Memoed};
use crate::row;
use crate::row::{
    DELETE_ROW, Fetched, Found, MODE_BINARY, MODE_PICKLE, MODE_RAW, MODE_TEXT, Put, Stored,
    Written, decode_file, decode_inline, fetch, file_stored, raw_stored, with_live_row,
};
use crate::settings::{EvictionPolicy, Synchronous};
use crate::txn::{TxnState, in_transaction};

/// How long a read that flushes the batched access records and statistics
/// waits for the write lock (others' writes hold it for tens of
/// microseconds; only a long transaction makes it give up).
const READ_FLUSH_WAIT: Duration = Duration::from_millis(2);

impl Cache {
    /// The codec this handle encodes keys and values with (see
    /// [`CacheBuilder::codec`](crate::CacheBuilder::codec)).
    pub fn codec(&self) -> Codec {
        self.inner.tunables.codec.get().copied().unwrap_or_default()
    }

    /// `key` as this cache stores it: what `get(key)` looks up. With
    /// [`Codec::Json`] every key becomes the zlib-compressed JSON bytes
    /// python's `JSONDisk` makes; a [`Key`] stays as it is.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Codec, Key};
    /// let plain = Cache::builder().open_temp()?;
    /// assert_eq!(plain.encode_key("k")?, Key::Text("k".into()));
    /// let json = Cache::builder().codec(Codec::json()).open_temp()?;
    /// // zlib.compress(b'"k"', 1)
    /// let python = b"x\x01S\xcaV\x02\x00\x01a\x00\xb0".to_vec();
    /// assert_eq!(json.encode_key("k")?, Key::Bytes(python));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn encode_key<K: Serialize + ?Sized>(&self, key: &K) -> Result<Key> {
        self.codec().key(key)
    }

    /// Decodes a stored key (from iteration, [`peekitem`](Cache::peekitem)
    /// or a queue) into a `T` with this cache's codec: with
    /// [`Codec::Json`], a byte-string key is JSON; any other key decodes as
    /// [`Key::decode`] does.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Codec};
    /// let cache = Cache::builder().codec(Codec::json()).open_temp()?;
    /// cache.set(&vec![1, 2], &"v")?;
    /// let key = cache.keys().next().expect("one key")?;
    /// assert_eq!(cache.decode_key::<Vec<i64>>(&key)?, vec![1, 2]);
    /// assert_eq!(cache.get::<String>(&key)?.as_deref(), Some("v"));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn decode_key<T: DeserializeOwned + 'static>(&self, key: &Key) -> Result<T> {
        self.codec().decode_key(key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// serde hands a `Vec<u8>` or `[u8]` over one byte at a time; for byte
    /// strings of kilobytes, wrap them in `serde_bytes::Bytes`, which hands
    /// them over whole (measured, a 30 KiB value: 20 µs instead of 34 µs).
    /// Both are stored the same way.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set(&42, &vec![1u8, 2, 3])?;
    /// assert_eq!(cache.get::<Vec<u8>>(&42)?, Some(vec![1, 2, 3]));
    /// let big = vec![7u8; 30 * 1024];
    /// cache.set("big", serde_bytes::Bytes::new(&big))?;
    /// assert_eq!(cache.get::<Vec<u8>>("big")?, Some(big));
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
        let key = self.codec().key(key)?;
        let stored = self.store(self.codec().value(value)?)?;
        self.set_stored(&key, stored, &opts.or_ttl(self.inner.default_ttl))
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
        let key = self.codec().key(key)?;
        let durable = self.inner.settings.sqlite_synchronous == Synchronous::Full;
        let (name, size) = files::write_new(&self.inner.dir, reader, durable)?;
        let opts = opts.or_ttl(self.inner.default_ttl);
        self.set_stored(&key, file_stored(MODE_BINARY, name, size), &opts)?;
        Ok(size)
    }

    fn set_stored(&self, key: &Key, stored: Stored, opts: &SetOptions) -> Result<()> {
        let result = self.write(|conn, st| self.put_stored(conn, st, key, &stored, opts));
        if result.is_err() {
            self.discard(&stored);
        }
        result
    }

    /// Writes `stored` under `key` inside the caller's write transaction,
    /// then culls.
    pub(crate) fn put_stored(
        &self,
        conn: &rusqlite::Connection,
        st: &mut TxnState,
        key: &Key,
        stored: &Stored,
        opts: &SetOptions,
    ) -> Result<()> {
        st.memo.key(key);
        let put = Put {
            now: now(),
            opts,
            stored,
        };
        if self.upsert(conn, st, key, &put)? {
            return self.cull_on_write(conn, st, &put, key, Written::Key(key));
        }
        let existing = Self::find(conn, key)?;
        self.put_row(conn, st, key, existing, &put)?;
        Ok(())
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
        let key = self.codec().key(key)?;
        let stored = self.store(self.codec().value(value)?)?;
        let opts = &*opts.or_ttl(self.inner.default_ttl);
        let result = self.write(|conn, st| {
            st.memo.key(&key);
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
    pub fn get<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
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
    pub fn get_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        self.lookup(key)
    }

    fn lookup<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        let key = self.codec().key(key)?;
        let now = now();
        let memo_key = (self.inner.memo.enabled() && !in_transaction(self.inner.id))
            .then(|| KeyRef::of(&key))
            .flatten();
        let found = self.with_conn_at(now, |conn| {
            let generation = self.inner.conns.generation();
            let memo = &self.inner.memo;
            let before = match &memo_key {
                Some(mk) => {
                    match memo.get(generation, *mk, |m| remembered::<V>(self.codec(), m, now)) {
                        Ok(hit) => return hit,
                        Err(now) => now,
                    }
                }
                None => None,
            };
            let read = with_live_row(conn, &key, now, |row| {
                let rowid: i64 = row.get(0)?;
                let fetched = fetch::<V>(self.codec(), row, 1)?;
                let expire = row::time(row, 5)?;
                let tag = match row.get_ref(6)? {
                    ValueRef::Null => None,
                    v => Some(Key::from_sql(v, true)?),
                };
                let inline = match (before, &fetched) {
                    (Some(_), Fetched::Ready(_)) => Some(Memoed {
                        rowid,
                        mode: row.get(1)?,
                        value: row.get(3)?,
                        expire,
                        tag: tag.clone(),
                    }),
                    _ => None,
                };
                Ok(((rowid, fetched, expire, tag), inline))
            })?;
            let Some((found, inline)) = read else {
                return Ok(None);
            };
            if let (Some(at), Some(mk), Some(row)) = (before, memo_key, inline) {
                memo.insert(generation, at, mk.owned(), row);
            }
            Ok(Some(found))
        });
        let result = match found.map_err(|e| e.for_value::<V>(&key))? {
            None => None,
            Some((rowid, fetched, expire, tag)) => self
                .finish(fetched)
                .map_err(|e| e.for_value::<V>(&key))?
                .map(|value| {
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
    pub(crate) fn finish<V: DeserializeOwned + 'static>(
        &self,
        fetched: Fetched<V>,
    ) -> Result<Option<V>> {
        match fetched {
            Fetched::Ready(v) => Ok(Some(v)),
            // A file changed behind the cache's back (another size, not a
            // regular file) is refused before it is read.
            Fetched::File { mode, name, size } => match files::read_sized(
                &self.inner.dir,
                &name,
                Some(u64::try_from(size).unwrap_or(u64::MAX)),
            )? {
                Some(bytes) => Ok(Some(decode_file(self.codec(), mode, bytes)?)),
                None => Ok(None),
            },
        }
    }

    /// Notes a read for statistics and the access-ordered policies.
    pub(crate) fn record_read(&self, hit: Option<i64>, now: f64) {
        let stats = self.inner.tunables.statistics();
        let track = self.policy().tracks_access();
        if !stats && !track {
            return;
        }
        let rowid = if track { hit } else { None };
        if self.inner.pending.record(hit.is_some(), stats, rowid, now) {
            // A read never waits on another writer's long transaction: the
            // records then wait for a later flush.
            let _ = self.flush(Some(READ_FLUSH_WAIT));
        }
    }

    /// Writes pending access records and statistics.
    pub(crate) fn flush_pending(&self) -> Result<()> {
        self.flush(None)
    }

    /// Writes pending access records and statistics, waiting for the write
    /// lock as every write does, or, with `bounded`, at most that long and
    /// without retrying; a batch not written is kept for the next flush
    /// (after a bounded one gave up, no sooner than a second later).
    fn flush(&self, bounded: Option<Duration>) -> Result<()> {
        let batch = self.inner.pending.take();
        if batch.is_empty() {
            return Ok(());
        }
        let policy = self.policy();
        let apply = |conn: &rusqlite::Connection, st: &mut TxnState| {
            st.memo.none();
            batch.apply(conn, policy)
        };
        let written = match bounded {
            Some(wait) => {
                let written = self.write_waiting(wait.min(self.inner.timeout), false, apply);
                self.prepare();
                written
            }
            None => self.write(apply),
        };
        written.inspect_err(|_| self.inner.pending.restore(batch, bounded.is_some()))
    }

    /// The value's bytes: a memory map of its file when it is file-backed
    /// (zero-copy), else a copy of the bytes or text in the database.
    /// Numbers and MessagePack values are a [`Error::TypeMismatch`].
    ///
    /// A mapped file is never modified by the cache, and removing the entry
    /// leaves an existing map valid. A process outside the cache that
    /// truncates the file while it is mapped makes access fault.
    pub fn read(&self, key: &(impl Serialize + ?Sized)) -> Result<Option<ValueBytes>> {
        let key = self.codec().key(key)?;
        let now = now();
        let found = self.with_conn_at(now, |conn| {
            with_live_row(conn, &key, now, |row| {
                let rowid: i64 = row.get(0)?;
                let mode: i64 = row.get(1)?;
                let name = row::file_name(row, 2)?;
                let size: i64 = row.get(4)?;
                let bytes: std::result::Result<Vec<u8>, (String, i64)> =
                    match (mode, name, row.get_ref(3)?) {
                        (MODE_BINARY | MODE_TEXT, Some(name), _) => Err((name, size)),
                        (MODE_RAW, None, ValueRef::Blob(b) | ValueRef::Text(b)) => Ok(b.to_vec()),
                        (MODE_PICKLE, _, _) => return Err(Error::pickled().with_key(&key)),
                        _ => return Err(Error::mismatch("value is not bytes or text")),
                    };
                Ok((rowid, bytes))
            })
        })?;
        let result = match found {
            None => None,
            Some((rowid, Ok(bytes))) => Some((rowid, ValueBytes::Owned(bytes))),
            Some((rowid, Err((name, size)))) => {
                let size = u64::try_from(size)
                    .map_err(|_| Error::corrupt("negative size").with_key(&key))?;
                files::map(&self.inner.dir, &name, size)
                    .map_err(|e| e.with_key(&key))?
                    .map(|m| (rowid, m))
            }
        };
        self.record_read(result.as_ref().map(|(r, _)| *r), now);
        Ok(result.map(|(_, b)| b))
    }

    /// Whether `key` is present and not expired.
    pub fn contains(&self, key: &(impl Serialize + ?Sized)) -> Result<bool> {
        let key = self.codec().key(key)?;
        let now = now();
        self.with_conn_at(now, |conn| {
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
        let key = self.codec().key(key)?;
        self.write(|conn, st| {
            st.memo.key(&key);
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
        let key = self.codec().key(key)?;
        self.write(|conn, st| Self::delete_in(conn, st, &key))
    }

    /// Removes `key` inside the caller's write transaction; whether it was
    /// present (and not expired).
    pub(crate) fn delete_in(
        conn: &rusqlite::Connection,
        st: &mut TxnState,
        key: &Key,
    ) -> Result<bool> {
        st.memo.key(key);
        match Self::find(conn, key)? {
            Some(found) if found.is_live(now()) => {
                conn.prepare_cached(DELETE_ROW)?.execute([found.rowid])?;
                st.obsolete.extend(found.filename);
                Ok(true)
            }
            _ => Ok(false),
        }
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
    pub fn pop<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<V>> {
        Ok(self.pop_entry(key)?.map(|entry| entry.value))
    }

    /// [`pop`](Cache::pop) that also returns the entry's expiry time and
    /// tag (python-diskcache's `pop(key, expire_time=True, tag=True)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::{Cache, Key, SetOptions};
    /// let cache = Cache::builder().open_temp()?;
    /// cache.set_with("k", "v", &SetOptions::new().expire(Duration::from_secs(60)).tag("t"))?;
    /// let entry = cache.pop_entry::<String>("k")?.expect("present");
    /// assert_eq!(entry.value, "v");
    /// assert!(entry.expire_time.is_some());
    /// assert_eq!(entry.tag, Some(Key::Text("t".into())));
    /// assert!(cache.pop_entry::<String>("k")?.is_none());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn pop_entry<V: DeserializeOwned + 'static>(
        &self,
        key: &(impl Serialize + ?Sized),
    ) -> Result<Option<Entry<V>>> {
        let key = self.codec().key(key)?;
        self.write(|conn, st| {
            st.memo.key(&key);
            let found = with_live_row(conn, &key, now(), |row| {
                let value = fetch::<V>(self.codec(), row, 1)
                    .and_then(|fetched| self.finish(fetched))
                    .map_err(|e| e.for_value::<V>(&key))?;
                let tag = match row.get_ref(6)? {
                    ValueRef::Null => None,
                    v => Some(Key::from_sql(v, true)?),
                };
                Ok((
                    row.get::<_, i64>(0)?,
                    row::file_name(row, 2)?,
                    value,
                    row::time(row, 5)?,
                    tag,
                ))
            })?;
            let Some((rowid, file, value, expire, tag)) = found else {
                return Ok(None);
            };
            conn.prepare_cached(DELETE_ROW)?.execute([rowid])?;
            st.obsolete.extend(file);
            Ok(value.map(|value| Entry {
                value,
                expire_time: to_system_time(expire),
                tag,
            }))
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
        let codec = self.codec();
        let key = codec.key(key)?;
        // With JSON the counter is stored as python's JSONDisk stores an int.
        let stored_value = |v: i64| -> Result<Value> {
            Ok(match codec {
                Codec::MessagePack => Value::Integer(v),
                _ => Value::Blob(crate::json::encode(&v, codec_level(codec))?),
            })
        };
        self.write(|conn, st| {
            st.memo.key(&key);
            let now = now();
            let (k, raw) = key.to_sql();
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, expire_time, filename, mode, value FROM Cache WHERE key = ?1 AND raw = ?2",
            )?;
            let mut rows = stmt.query(params![k, raw])?;
            let current = match rows.next()? {
                Some(row) => {
                    let rowid: i64 = row.get(0)?;
                    let expire = row::time(row, 1)?;
                    let file = row::file_name(row, 2)?;
                    if expire.is_some_and(|t| t <= now) {
                        Err(Some(Found { rowid, filename: file, expire }))
                    } else {
                        match (row.get::<_, i64>(3)?, row.get_ref(4)?) {
                            (MODE_RAW, ValueRef::Integer(i)) => Ok((rowid, i)),
                            (MODE_RAW, ValueRef::Blob(b)) if codec.bytes_are_encoded() => {
                                Ok((rowid, crate::json::decode::<i64>(b).map_err(|_| {
                                    Error::mismatch("incr on a value that is not an integer")
                                })?))
                            }
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
                    conn.prepare_cached(&sql)?.execute(params![now, stored_value(value)?, rowid])?;
                    Ok(value)
                }
                Err(existing) => {
                    let value = default.ok_or(Error::NotFound)?.checked_add(delta).ok_or(Error::Overflow)?;
                    let stored = raw_stored(stored_value(value)?);
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
                .prepare_cached("SELECT CAST(value AS INTEGER) FROM Settings WHERE key = ?1")?
                .query_row([name], |r| r.get(0))?;
            Ok(u64::try_from(v).unwrap_or(0))
        })
    }
}

/// The zlib level of a JSON codec.
fn codec_level(codec: Codec) -> u32 {
    match codec {
        Codec::Json { level } => level,
        _ => 1,
    }
}

/// A row as a lookup returns it: rowid, value, expiry time, tag.
type Row<V> = (i64, Fetched<V>, Option<f64>, Option<Key>);

/// A row read from the memo: `None` when it has expired since.
fn remembered<V: DeserializeOwned + 'static>(
    codec: Codec,
    m: &Memoed,
    now: f64,
) -> Result<Option<Row<V>>> {
    if m.expire.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let value = decode_inline(codec, m.mode, ValueRef::from(&m.value))?;
    Ok(Some((
        m.rowid,
        Fetched::Ready(value),
        m.expire,
        m.tag.clone(),
    )))
}
