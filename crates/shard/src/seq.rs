//! A queue as a sequence: indexed access, ordered iteration, reverse and
//! rotate. Reverse and rotate re-key rows inside one transaction; values
//! (and their files) never move.

use std::collections::VecDeque;
use std::marker::PhantomData;

use rusqlite::types::Value;
use rusqlite::{Connection, params};
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::codec::Key;
use crate::error::Result;
use crate::queue::{COLUMNS, QueueRow, Side, bounds, number, queue_key, queue_row};

/// Items fetched per query by [`QueueIter`] (a literal in its queries).
const PAGE: usize = 100;

impl Cache {
    /// The item `index` places from `side` of the queue `prefix` (0 is the
    /// item at that end), or `None` past the end.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// for c in ["a", "b", "c"] {
    ///     cache.push(&c, None, Side::Back)?;
    /// }
    /// assert_eq!(cache.queue_get::<String>(None, Side::Front, 1)?.map(|x| x.1).as_deref(), Some("b"));
    /// assert_eq!(cache.queue_get::<String>(None, Side::Back, 0)?.map(|x| x.1).as_deref(), Some("c"));
    /// assert_eq!(cache.queue_get::<String>(None, Side::Front, 3)?, None);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn queue_get<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
        index: u64,
    ) -> Result<Option<(Key, V)>> {
        let (low, high) = bounds(prefix);
        let sql = format!(
            "SELECT {COLUMNS} FROM Cache WHERE ?1 < key AND key < ?2 AND raw = 1 \
             ORDER BY key {} LIMIT 1 OFFSET ?3",
            side.order()
        );
        let offset = i64::try_from(index).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![low, high, offset])?;
            match rows.next()? {
                Some(row) => {
                    let QueueRow { key, value, .. } = queue_row::<V>(self, row)?;
                    Ok(value.map(|v| (key, v)))
                }
                None => Ok(None),
            }
        })
    }

    /// The items of the queue `prefix` in order from `side`.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// for i in 0..3 {
    ///     cache.push(&i, None, Side::Back)?;
    /// }
    /// let back: Vec<i32> = cache.queue_iter(None, Side::Back).map(|r| r.map(|x| x.1)).collect::<Result<_, _>>()?;
    /// assert_eq!(back, vec![2, 1, 0]);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn queue_iter<V: DeserializeOwned + 'static>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> QueueIter<V> {
        let (low, high) = bounds(prefix);
        QueueIter {
            cache: self.clone(),
            side,
            low,
            high,
            buffer: VecDeque::new(),
            done: false,
            _values: PhantomData,
        }
    }

    /// Reverses the queue `prefix` in place.
    pub fn queue_reverse(&self, prefix: Option<&str>) -> Result<()> {
        self.rekey(prefix, |numbers| numbers.iter().rev().copied().collect())
    }

    /// Rotates the queue `prefix` by `steps`: positive steps move items from
    /// the back to the front, negative from the front to the back.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Side};
    /// let cache = Cache::builder().open_temp()?;
    /// for i in 0..4 {
    ///     cache.push(&i, None, Side::Back)?;
    /// }
    /// cache.queue_rotate(None, 1)?;
    /// let items: Vec<i32> = cache.queue_iter(None, Side::Front).map(|r| r.map(|x| x.1)).collect::<Result<_, _>>()?;
    /// assert_eq!(items, vec![3, 0, 1, 2]);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn queue_rotate(&self, prefix: Option<&str>, steps: i64) -> Result<()> {
        self.rekey(prefix, |numbers| {
            let len = numbers.len() as i64;
            let shift = steps.rem_euclid(len.max(1)) as usize;
            // Item i (front first) takes the number of position i + shift.
            (0..numbers.len())
                .map(|i| numbers[(i + shift) % numbers.len()])
                .collect()
        })
    }

    /// Gives the queue's rows new numbers: `renumber` maps the numbers in
    /// key order to the numbers the same rows get. Rows first move out of
    /// the way (`raw = 2`, a value no key uses) so that the unique index on
    /// `(key, raw)` never sees two rows with one key.
    fn rekey(&self, prefix: Option<&str>, renumber: impl Fn(&[i64]) -> Vec<i64>) -> Result<()> {
        let (low, high) = bounds(prefix);
        self.write(|conn, _| {
            let rows = queue_numbers(conn, &low, &high)?;
            let numbers: Vec<i64> = rows.iter().map(|(_, n)| *n).collect();
            let renumbered = renumber(&numbers);
            conn.prepare_cached(
                "UPDATE Cache SET raw = 2 WHERE ?1 < key AND key < ?2 AND raw = 1",
            )?
            .execute(params![low, high])?;
            let mut update =
                conn.prepare_cached("UPDATE Cache SET key = ?1, raw = 1 WHERE rowid = ?2")?;
            for ((rowid, _), n) in rows.iter().zip(renumbered) {
                update.execute(params![queue_key(prefix, n).into_value(), rowid])?;
            }
            Ok(())
        })
    }
}

/// The queue's rows, in key order: rowid and number.
fn queue_numbers(conn: &Connection, low: &Value, high: &Value) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, key FROM Cache WHERE ?1 < key AND key < ?2 AND raw = 1 ORDER BY key",
    )?;
    let mut rows = stmt.query(params![low, high])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push((row.get(0)?, number(&Key::from_sql(row.get_ref(1)?, true)?)?));
    }
    Ok(out)
}

/// The items of a queue, in order from one end (see [`Cache::queue_iter`]).
/// Items are read a page at a time; each page is its own read.
pub struct QueueIter<V> {
    cache: Cache,
    side: Side,
    /// Exclusive bounds still to visit: the cursor narrows one of them.
    low: Value,
    high: Value,
    buffer: VecDeque<(Key, V)>,
    done: bool,
    _values: PhantomData<fn() -> V>,
}

impl<V> std::fmt::Debug for QueueIter<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueIter")
            .field("directory", &self.cache.directory())
            .field("side", &self.side)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<V: DeserializeOwned + 'static> QueueIter<V> {
    fn fill(&mut self) -> Result<()> {
        let sql = format!(
            "SELECT {COLUMNS} FROM Cache WHERE ?1 < key AND key < ?2 AND raw = 1 ORDER BY key {} LIMIT 100",
            self.side.order()
        );
        let (low, high) = (&self.low, &self.high);
        let cache = &self.cache;
        let page: Vec<(Key, Option<V>)> = cache.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![low, high])?;
            let mut page = Vec::new();
            while let Some(row) = rows.next()? {
                let QueueRow { key, value, .. } = queue_row::<V>(cache, row)?;
                page.push((key, value));
            }
            Ok(page)
        })?;
        if page.len() < PAGE {
            self.done = true;
        }
        if let Some((last, _)) = page.last() {
            let cursor = last.clone().into_value();
            match self.side {
                Side::Front => self.low = cursor,
                Side::Back => self.high = cursor,
            }
        }
        // Items whose file vanished (removed meanwhile) are skipped.
        self.buffer
            .extend(page.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        Ok(())
    }
}

impl<V: DeserializeOwned + 'static> Iterator for QueueIter<V> {
    type Item = Result<(Key, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}
