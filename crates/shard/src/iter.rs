//! Iterating over keys in insertion (rowid) order.

use std::collections::VecDeque;

use crate::cache::Cache;
use crate::codec::Key;
use crate::error::Result;

/// Keys fetched per query (a literal `LIMIT 100` in the queries).
const PAGE: usize = 100;

/// An iterator over a cache's keys, in insertion order or its reverse.
///
/// Keys are read a page at a time, each page in its own read, so writers are
/// never blocked; keys added or removed while iterating may or may not be
/// seen, but no key is seen twice.
pub struct Keys {
    cache: Cache,
    reverse: bool,
    /// The rowid last returned (exclusive bound of the next page).
    cursor: Option<i64>,
    buffer: VecDeque<Key>,
    done: bool,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("directory", &self.cache.directory())
            .field("reverse", &self.reverse)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// The keys, oldest first, as stored: a key python-diskcache pickled
    /// is a [`Key::Packed`] for which [`Key::is_pickled`] holds, and
    /// [`Key::decode`] of it is [`Error::Pickled`](crate::Error::Pickled)
    /// naming it; it still finds its entry, to read or delete.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Key};
    /// let cache = Cache::builder().open_temp()?;
    /// for i in 0..3 {
    ///     cache.set(&i, &())?;
    /// }
    /// let keys: Vec<Key> = cache.keys().collect::<Result<_, _>>()?;
    /// assert_eq!(keys, vec![Key::Int(0), Key::Int(1), Key::Int(2)]);
    /// let rev: Vec<Key> = cache.keys_rev().collect::<Result<_, _>>()?;
    /// assert_eq!(rev[0], Key::Int(2));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn keys(&self) -> Keys {
        Keys::new(self.clone(), false)
    }

    /// The keys, newest first.
    pub fn keys_rev(&self) -> Keys {
        Keys::new(self.clone(), true)
    }
}

impl Keys {
    fn new(cache: Cache, reverse: bool) -> Self {
        Keys {
            cache,
            reverse,
            cursor: None,
            buffer: VecDeque::new(),
            done: false,
        }
    }

    fn fill(&mut self) -> Result<()> {
        let (sql, bound) = if self.reverse {
            (
                "SELECT rowid, key, raw FROM Cache WHERE rowid < ?1 ORDER BY rowid DESC LIMIT 100",
                self.cursor.unwrap_or(i64::MAX),
            )
        } else {
            (
                "SELECT rowid, key, raw FROM Cache WHERE rowid > ?1 ORDER BY rowid ASC LIMIT 100",
                self.cursor.unwrap_or(i64::MIN),
            )
        };
        let page = self.cache.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query([bound])?;
            let mut page = Vec::new();
            while let Some(row) = rows.next()? {
                let rowid: i64 = row.get(0)?;
                let raw: bool = row.get(2)?;
                page.push((rowid, Key::from_sql(row.get_ref(1)?, raw)?));
            }
            Ok(page)
        })?;
        if page.len() < PAGE {
            self.done = true;
        }
        if let Some((rowid, _)) = page.last() {
            self.cursor = Some(*rowid);
        }
        self.buffer.extend(page.into_iter().map(|(_, k)| k));
        Ok(())
    }
}

impl Iterator for Keys {
    type Item = Result<Key>;

    fn next(&mut self) -> Option<Result<Key>> {
        if self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}
