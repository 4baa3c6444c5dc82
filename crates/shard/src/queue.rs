//! Queues on a cache: `push`, `pull`, `peek` and `peekitem`.
//!
//! Queue keys are integers between 0 and 999 999 999 999 999, or with a
//! prefix the text `prefix-%015d`, as python-diskcache makes them; the
//! first key pushed is 500 000 000 000 000, pushing at the back counts up
//! and at the front counts down.

use rusqlite::types::Value;
use rusqlite::{Connection, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, Entry, SetOptions, now, to_system_time};
use crate::codec::Key;
use crate::error::{Error, Result};
use crate::row::{DELETE_ROW, Put, fetch};
use crate::txn::TxnState;

const FIRST: i64 = 500_000_000_000_000;
const MAX: i64 = 999_999_999_999_999;

/// Which end of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The lowest key.
    Front,
    /// The highest key.
    Back,
}

impl Side {
    pub(crate) fn order(self) -> &'static str {
        match self {
            Side::Front => "ASC",
            Side::Back => "DESC",
        }
    }
}

/// The exclusive key bounds of a queue.
pub(crate) fn bounds(prefix: Option<&str>) -> (Value, Value) {
    match prefix {
        None => (Value::Integer(0), Value::Integer(MAX)),
        Some(p) => (
            Value::Text(format!("{p}-000000000000000")),
            Value::Text(format!("{p}-999999999999999")),
        ),
    }
}

pub(crate) fn queue_key(prefix: Option<&str>, n: i64) -> Key {
    match prefix {
        None => Key::Int(n),
        Some(p) => Key::Text(format!("{p}-{n:015}")),
    }
}

/// The number in a queue key.
pub(crate) fn number(key: &Key) -> Result<i64> {
    match key {
        Key::Int(n) => Ok(*n),
        Key::Text(t) => t
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .ok_or_else(|| Error::corrupt(format!("queue key {t:?} has no number"))),
        _ => Err(Error::corrupt("queue key is neither integer nor text")),
    }
}

pub(crate) const COLUMNS: &str = "rowid, key, raw, expire_time, mode, filename, value, size, tag";

/// A row met while walking a queue.
pub(crate) struct QueueRow<V> {
    pub(crate) rowid: i64,
    pub(crate) key: Key,
    pub(crate) expire: Option<f64>,
    pub(crate) file: Option<String>,
    /// The value; `None` when expired or its file vanished.
    pub(crate) value: Option<V>,
    /// The tag, if any.
    pub(crate) tag: Option<Key>,
}

/// Reads a queue row.
pub(crate) fn queue_row<V: DeserializeOwned + 'static>(
    cache: &Cache,
    row: &Row<'_>,
) -> Result<QueueRow<V>> {
    let rowid: i64 = row.get(0)?;
    let raw: bool = row.get(2)?;
    let key = Key::from_sql(row.get_ref(1)?, raw)?;
    let expire = crate::row::time(row, 3)?;
    let file = crate::row::file_name(row, 5)?;
    let tag = match row.get_ref(8)? {
        rusqlite::types::ValueRef::Null => None,
        v => Some(Key::from_sql(v, true)?),
    };
    let value = if expire.is_some_and(|t| t < now()) {
        None
    } else {
        fetch::<V>(cache.codec(), row, 4)
            .and_then(|fetched| cache.finish(fetched))
            .map_err(|e| e.for_value::<V>(&key))?
    };
    Ok(QueueRow {
        rowid,
        key,
        expire,
        file,
        value,
        tag,
    })
}

impl Cache {
    /// Pushes `value` onto the queue `prefix` (`None`: the integer-keyed
    /// queue) at `side`; returns the key it was stored under.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Key, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// assert_eq!(cache.push(&"a", None, Side::Back)?, Key::Int(500_000_000_000_000));
    /// cache.push(&"b", None, Side::Back)?;
    /// cache.push(&"z", None, Side::Front)?;
    /// let (_, first) = cache.pull::<String>(None, Side::Front)?.expect("queued");
    /// assert_eq!(first, "z");
    /// let jobs = cache.push(&1, Some("jobs"), Side::Back)?;
    /// assert_eq!(jobs, Key::Text("jobs-500000000000000".into()));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn push<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Key> {
        self.push_with(value, prefix, side, &SetOptions::default())
    }

    /// [`push`](Cache::push) with an expiry and/or tag.
    pub fn push_with<V: Serialize + ?Sized>(
        &self,
        value: &V,
        prefix: Option<&str>,
        side: Side,
        opts: &SetOptions,
    ) -> Result<Key> {
        let stored = self.store(self.codec().value(value)?)?;
        let (low, high) = bounds(prefix);
        let select = format!(
            "SELECT key, raw FROM Cache WHERE ?1 < key AND key < ?2 AND raw = 1 ORDER BY key {} LIMIT 1",
            side.order()
        );
        let result = self.write(|conn, st| {
            let mut stmt = conn.prepare_cached(&select)?;
            let mut rows = stmt.query(params![low, high])?;
            let n = match rows.next()? {
                Some(row) => {
                    let n = number(&Key::from_sql(row.get_ref(0)?, true)?)?;
                    match side {
                        Side::Back => n + 1,
                        Side::Front => n - 1,
                    }
                }
                None => FIRST,
            };
            drop(rows);
            if n <= 0 || n >= MAX {
                return Err(Error::invalid("queue is full at this end"));
            }
            let key = queue_key(prefix, n);
            st.memo.key(&key);
            self.put_row(
                conn,
                st,
                &key,
                None,
                &Put {
                    now: now(),
                    opts,
                    stored: &stored,
                },
            )?;
            Ok(key)
        });
        if result.is_err() {
            self.discard(&stored);
        }
        result
    }

    /// Removes and returns the item at `side` of the queue `prefix`;
    /// expired items met on the way are removed too.
    ///
    /// An item python-diskcache pickled (`cache.push(("a", 1))`) is never
    /// unpickled: while it is at `side`, this fails with
    /// [`Error::Pickled`] naming its key and removes nothing. Delete that
    /// key ([`Cache::delete`]) and call again to go on with the next item.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error, Side};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = Cache::open(dir.path())?;
    /// cache.push(&"first", Some("jobs"), Side::Back)?;
    /// cache.push(&"second", Some("jobs"), Side::Back)?;
    /// // Make the head what python-diskcache stores for a pickled item.
    /// let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    /// db.execute("UPDATE Cache SET mode = 4, value = x'8005' WHERE key = 'jobs-500000000000000'", [])?;
    /// let item = loop {
    ///     match cache.pull::<String>(Some("jobs"), Side::Front) {
    ///         Err(Error::Pickled { key: Some(key) }) => {
    ///             cache.delete(&key)?;
    ///         }
    ///         other => break other?,
    ///     }
    /// };
    /// assert_eq!(item.map(|(_, v)| v).as_deref(), Some("second"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pull<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        Ok(self
            .take_from_queue(prefix, side, true)?
            .map(|(k, e)| (k, e.value)))
    }

    /// [`pull`](Cache::pull) that also returns the item's expiry time and
    /// tag (python-diskcache's `pull(expire_time=True, tag=True)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::{Cache, Key, SetOptions, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// let opts = SetOptions::new().expire(Duration::from_secs(60)).tag("batch");
    /// cache.push_with(&"job", None, Side::Back, &opts)?;
    /// let (key, entry) = cache.pull_entry::<String>(None, Side::Front)?.expect("queued");
    /// assert_eq!(key, Key::Int(500_000_000_000_000));
    /// assert_eq!(entry.value, "job");
    /// assert!(entry.expire_time.is_some());
    /// assert_eq!(entry.tag, Some(Key::Text("batch".into())));
    /// assert!(cache.pull_entry::<String>(None, Side::Front)?.is_none());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn pull_entry<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, Entry<V>)>> {
        self.take_from_queue(prefix, side, true)
    }

    /// Returns the item at `side` of the queue `prefix` without removing
    /// it; expired items met on the way are removed. An item python
    /// pickled is [`Error::Pickled`] naming its key, as for
    /// [`pull`](Cache::pull): delete that key and call again.
    pub fn peek<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        Ok(self
            .take_from_queue(prefix, side, false)?
            .map(|(k, e)| (k, e.value)))
    }

    /// [`peek`](Cache::peek) that also returns the item's expiry time and
    /// tag (python-diskcache's `peek(expire_time=True, tag=True)`).
    ///
    /// ```
    /// use diskcache_shard::{Cache, Key, SetOptions, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// cache.push_with(&1, Some("q"), Side::Back, &SetOptions::new().tag(7))?;
    /// let (_, entry) = cache.peek_entry::<i64>(Some("q"), Side::Back)?.expect("queued");
    /// assert_eq!((entry.value, entry.expire_time, entry.tag), (1, None, Some(Key::Int(7))));
    /// // Peeking leaves the item in place.
    /// assert!(cache.peek_entry::<i64>(Some("q"), Side::Back)?.is_some());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn peek_entry<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, Entry<V>)>> {
        self.take_from_queue(prefix, side, false)
    }

    fn take_from_queue<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
        remove: bool,
    ) -> Result<Option<(Key, Entry<V>)>> {
        let (low, high) = bounds(prefix);
        let select = format!(
            "SELECT {COLUMNS} FROM Cache WHERE ?1 < key AND key < ?2 AND raw = 1 ORDER BY key {} LIMIT 1",
            side.order()
        );
        self.write(|conn, st| self.first_live(conn, st, &select, params![low, high], remove))
    }

    /// The first (`last == false`) or last entry in insertion order, without
    /// removing it; expired entries met on the way are removed. The key is
    /// handed out as stored: one python pickled is a [`Key::Packed`] for
    /// which [`Key::is_pickled`] holds (decoding it is [`Error::Pickled`]);
    /// a pickled value is [`Error::Pickled`] naming the key, as for
    /// [`pull`](Cache::pull).
    ///
    /// ```
    /// use diskcache_shard::{Cache, Key};
    /// let cache = Cache::builder().open_temp()?;
    /// cache.set("a", &1)?;
    /// cache.set("b", &2)?;
    /// assert_eq!(cache.peekitem::<i64>(true)?, Some((Key::Text("b".into()), 2)));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn peekitem<V: DeserializeOwned + 'static>(&self, last: bool) -> Result<Option<(Key, V)>> {
        Ok(self.peekitem_entry(last)?.map(|(k, e)| (k, e.value)))
    }

    /// [`peekitem`](Cache::peekitem) that also returns the entry's expiry
    /// time and tag (python-diskcache's `peekitem(expire_time=True,
    /// tag=True)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use diskcache_shard::{Cache, Key, SetOptions};
    /// let cache = Cache::builder().open_temp()?;
    /// cache.set("a", &1)?;
    /// cache.set_with("b", &2, &SetOptions::new().expire(Duration::from_secs(60)).tag("t"))?;
    /// let (key, entry) = cache.peekitem_entry::<i64>(true)?.expect("present");
    /// assert_eq!((key, entry.value), (Key::Text("b".into()), 2));
    /// assert!(entry.expire_time.is_some());
    /// assert_eq!(entry.tag, Some(Key::Text("t".into())));
    /// let (_, first) = cache.peekitem_entry::<i64>(false)?.expect("present");
    /// assert_eq!((first.value, first.expire_time, first.tag), (1, None, None));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn peekitem_entry<V: DeserializeOwned + 'static>(
        &self,
        last: bool,
    ) -> Result<Option<(Key, Entry<V>)>> {
        let select = format!(
            "SELECT {COLUMNS} FROM Cache ORDER BY rowid {} LIMIT 1",
            if last { "DESC" } else { "ASC" }
        );
        self.write(|conn, st| self.first_live(conn, st, &select, params![], false))
    }

    /// Selects rows one at a time, removing expired ones (and, with
    /// `remove`, the live one found), and returns the first live entry.
    /// A file that vanished counts as removed by another handle.
    fn first_live<V: DeserializeOwned + 'static>(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        select: &str,
        args: &[&dyn rusqlite::ToSql],
        remove: bool,
    ) -> Result<Option<(Key, Entry<V>)>> {
        // Changes nothing but the rows it deletes.
        st.memo.none();
        loop {
            let mut stmt = conn.prepare_cached(select)?;
            let mut rows = stmt.query(args)?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let QueueRow {
                rowid,
                key,
                expire,
                file,
                value,
                tag,
            } = queue_row::<V>(self, row)?;
            drop(rows);
            let live = expire.is_none_or(|t| t >= now());
            let entry = |value| Entry {
                value,
                expire_time: to_system_time(expire),
                tag,
            };
            if live && !remove && value.is_some() {
                return Ok(value.map(|v| (key, entry(v))));
            }
            conn.prepare_cached(DELETE_ROW)?.execute([rowid])?;
            st.memo.row(rowid);
            st.obsolete.extend(file);
            if let (true, Some(v)) = (live, value) {
                return Ok(Some((key, entry(v))));
            }
        }
    }
}
