//! Maintenance: culling, expiry, eviction by tag, clearing, volume,
//! statistics and the tag index.

use std::sync::atomic::Ordering;

use rusqlite::{Connection, ToSql, params};

use crate::cache::{Cache, now};
use crate::codec::Key;
use crate::error::Result;
use crate::headroom;
use crate::row::{DELETE_ROW, Put, Written};
use crate::schema::{CREATE_TAG_INDEX, DROP_TAG_INDEX};
use crate::txn::TxnState;

/// Rows removed per transaction by the bulk operations, so that other
/// writers get the lock between batches. It appears as a literal `LIMIT 100`
/// in their queries: SQLite plans with the LIMIT's value, so a bound LIMIT
/// makes it prepare the statement again whenever the value changes.
const BATCH: i64 = 100;

/// The query selecting up to `limit` rows in policy order, skipping `?1`.
fn policy_select(column: &str, limit: i64) -> String {
    format!("SELECT rowid, filename FROM Cache WHERE rowid != ?1 ORDER BY {column} LIMIT {limit}")
}

/// The query selecting up to `limit` rows expired before `?1`, earliest
/// first.
fn expired_select(limit: i64) -> String {
    format!(
        "SELECT rowid, filename FROM Cache WHERE expire_time IS NOT NULL \
         AND expire_time < ?1 ORDER BY expire_time LIMIT {limit}"
    )
}

/// `f()`, and with `retry` again while it times out.
pub(crate) fn retried<T>(retry: bool, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match f() {
            Err(e) if retry && e.is_timeout() => std::thread::yield_now(),
            done => return done,
        }
    }
}

/// Hit and miss counts (see [`Cache::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reads that found a value.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
}

/// Deletes the rows `(rowid, filename)` that `select` yields; their files
/// become obsolete. Returns how many were deleted.
fn delete_selected(
    conn: &Connection,
    st: &mut TxnState,
    select: &str,
    args: &[&dyn ToSql],
) -> Result<i64> {
    let rows: Vec<(i64, Option<String>)> = conn
        .prepare_cached(select)?
        .query_map(args, |r| Ok((r.get(0)?, crate::row::file_name(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete = conn.prepare_cached(DELETE_ROW)?;
    for (rowid, file) in &rows {
        delete.execute([rowid])?;
        st.memo.row(*rowid);
        st.obsolete.extend(file.clone());
    }
    Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX))
}

impl Cache {
    /// Culls after a write, inside its transaction: up to `cull_limit`
    /// expired rows, then, while the volume is at or over the size limit,
    /// rows in policy order. The row just written (`written`) is kept unless
    /// it alone exceeds the size limit.
    pub(crate) fn cull_on_write(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        put: &Put<'_>,
        key: &Key,
        written: Written<'_>,
    ) -> Result<()> {
        let now = put.now;
        self.recheck(conn, now)?;
        let size_limit = self.inner.tunables.size();
        let size = put.stored.size;
        let mut limit = i64::try_from(self.inner.tunables.cull()).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(());
        }
        let order = self.inner.settings.eviction_policy.order_column();
        let write = headroom::Write {
            now,
            // The value, and the key in the row and in the key's index.
            bytes: u64::try_from(size).unwrap_or(0)
                + 2 * key.stored_len() as u64
                + put
                    .opts
                    .tag
                    .as_ref()
                    .map_or(0, |t| 2 * t.stored_len() as u64),
            page_size: self.inner.page_size,
            expire: put.opts.expire_time(now),
            limit: order.map_or(u64::MAX, |_| size_limit),
        };
        if self
            .inner
            .headroom
            .skip(&mut st.headroom, st.before, &write)
        {
            return Ok(());
        }
        // One probe answers both questions: is anything expired, and is the
        // volume at the limit? The deletes run only when there is work.
        let (earliest, volume) = self.cull_probe(conn)?;
        let expired = earliest.is_some_and(|t| t < now);
        let full = order.is_some() && volume >= size_limit;
        st.headroom.probed(earliest, volume, expired || full);
        if expired {
            limit -= delete_selected(conn, st, &expired_select(limit), params![now])?;
        }
        let Some(column) = order else {
            return Ok(());
        };
        if limit <= 0 || volume < size_limit {
            return Ok(());
        }
        // Expired rows just deleted free no pages until commit; the volume
        // probed before them is still the one to compare.
        self.apply_pending(conn)?;
        let keep = if u64::try_from(size).unwrap_or(0) > size_limit {
            0
        } else {
            match written {
                Written::Row(rowid) => rowid,
                Written::Key(key) => Self::find(conn, key)?.map_or(0, |f| f.rowid),
            }
        };
        delete_selected(conn, st, &policy_select(column, limit), params![keep])?;
        Ok(())
    }

    /// Writes this handle's pending access records inside the caller's
    /// transaction, so that a cull by policy sees them.
    fn apply_pending(&self, conn: &Connection) -> Result<()> {
        if !self.inner.settings.eviction_policy.tracks_access() {
            return Ok(());
        }
        let batch = self.inner.pending.take();
        if let Err(e) = batch.apply(conn, self.inner.settings.eviction_policy) {
            self.inner.pending.restore(batch, false);
            return Err(e);
        }
        Ok(())
    }

    /// The earliest expiry time of any row, and the volume.
    fn cull_probe(&self, conn: &Connection) -> Result<(Option<f64>, u64)> {
        let (earliest, pages, files): (Option<f64>, i64, i64) = conn
            .prepare_cached(
                "SELECT (SELECT CAST(min(expire_time) AS REAL) FROM Cache \
                 WHERE expire_time IS NOT NULL), page_count, \
                 CAST(coalesce((SELECT value FROM Settings WHERE key = 'size'), 0) AS INTEGER) \
                 FROM pragma_page_count()",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let volume = u64::try_from(pages).unwrap_or(0) * self.inner.page_size
            + u64::try_from(files).unwrap_or(0);
        Ok((earliest, volume))
    }

    fn volume_in(&self, conn: &Connection) -> Result<u64> {
        Ok(self.cull_probe(conn)?.1)
    }

    /// The cache's size on disk in bytes: database pages plus value files.
    pub fn volume(&self) -> Result<u64> {
        self.with_conn(|conn| self.volume_in(conn))
    }

    /// [`write`](Cache::write), and with `retry` (or the handle's retry
    /// option) again and again while the lock wait times out.
    pub(crate) fn write_as<T>(
        &self,
        retry: bool,
        f: impl FnMut(&Connection, &mut TxnState) -> Result<T>,
    ) -> Result<T> {
        self.write_waiting(self.inner.timeout, retry || self.inner.retry, f)
    }

    /// Deletes, batch by batch (one transaction each), the rows `select`
    /// yields (it must end in `LIMIT 100`, the batch size); with `retry`,
    /// a batch whose lock wait timed out is tried again, so that the count
    /// returned is every row removed.
    fn delete_batches(&self, retry: bool, select: &str, args: &[&dyn ToSql]) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let removed =
                self.write_as(retry, |conn, st| delete_selected(conn, st, select, args))?;
            total += u64::try_from(removed).unwrap_or(0);
            if removed < BATCH {
                return Ok(total);
            }
        }
    }

    /// Removes every expired entry; returns how many.
    pub fn expire(&self) -> Result<u64> {
        self.expire_as(false)
    }

    pub(crate) fn expire_as(&self, retry: bool) -> Result<u64> {
        self.delete_batches(
            retry,
            "SELECT rowid, filename FROM Cache WHERE expire_time IS NOT NULL \
             AND expire_time < ?1 ORDER BY expire_time LIMIT 100",
            &[&now()],
        )
    }

    /// Removes expired entries, then entries in policy order until the
    /// volume is under the size limit; returns how many were removed.
    ///
    /// ```
    /// use diskcache_shard::Cache;
    /// let cache = Cache::builder().size_limit(0).cull_limit(0).open_temp()?;
    /// for i in 0..50 {
    ///     cache.set(&i, &i)?;
    /// }
    /// assert_eq!(cache.cull()?, 50);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn cull(&self) -> Result<u64> {
        self.cull_as(false)
    }

    pub(crate) fn cull_as(&self, retry: bool) -> Result<u64> {
        let mut removed = self.expire_as(retry)?;
        let Some(column) = self.inner.settings.eviction_policy.order_column() else {
            return Ok(removed);
        };
        let select = policy_select(column, BATCH);
        let size_limit = self.inner.tunables.size();
        loop {
            let n = self.write_as(retry, |conn, st| {
                if self.volume_in(conn)? < size_limit {
                    return Ok(0);
                }
                self.apply_pending(conn)?;
                delete_selected(conn, st, &select, params![0])
            })?;
            removed += u64::try_from(n).unwrap_or(0);
            if n == 0 {
                return Ok(removed);
            }
        }
    }

    /// Removes every entry tagged `tag`; returns how many.
    pub fn evict(&self, tag: impl Into<Key>) -> Result<u64> {
        self.evict_as(false, tag.into())
    }

    pub(crate) fn evict_as(&self, retry: bool, tag: Key) -> Result<u64> {
        let tag = tag.into_value();
        self.delete_batches(
            retry,
            "SELECT rowid, filename FROM Cache WHERE tag = ?1 ORDER BY rowid LIMIT 100",
            &[&tag],
        )
    }

    /// Removes every entry, in batches so that other writers are not held
    /// up and value folders are removed as they empty; returns how many.
    /// When the cache is then empty, its stored count and size are set to
    /// zero, whatever they had become (a damaged `Settings` table, say).
    pub fn clear(&self) -> Result<u64> {
        self.clear_as(false)
    }

    pub(crate) fn clear_as(&self, retry: bool) -> Result<u64> {
        let last: i64 = retried(retry, || {
            self.with_conn(|conn| {
                Ok(
                    conn.query_row("SELECT coalesce(max(rowid), 0) FROM Cache", [], |r| {
                        r.get(0)
                    })?,
                )
            })
        })?;
        let removed = self.delete_batches(
            retry,
            "SELECT rowid, filename FROM Cache WHERE rowid <= ?1 ORDER BY rowid LIMIT 100",
            &[&last],
        )?;
        self.write_as(retry, |conn, st| {
            st.memo.none();
            conn.prepare_cached(
                "UPDATE Settings SET value = 0 WHERE key IN ('count', 'size') \
                 AND value IS NOT 0 AND NOT EXISTS (SELECT 1 FROM Cache)",
            )?
            .execute([])?;
            Ok(())
        })?;
        Ok(removed)
    }

    /// Hits and misses counted while statistics are on, across every handle
    /// and process that writes its counts.
    pub fn stats(&self) -> Result<Stats> {
        self.flush_pending()?;
        Ok(Stats {
            hits: self.metadata("hits")?,
            misses: self.metadata("misses")?,
        })
    }

    /// Sets the hit and miss counts to zero, returning them as they were.
    pub fn reset_stats(&self) -> Result<Stats> {
        self.flush_pending()?;
        self.write(|conn, _| {
            let get = |key: &str| -> Result<u64> {
                let v: i64 =
                    conn.query_row("SELECT value FROM Settings WHERE key = ?1", [key], |r| {
                        r.get(0)
                    })?;
                Ok(u64::try_from(v).unwrap_or(0))
            };
            let stats = Stats {
                hits: get("hits")?,
                misses: get("misses")?,
            };
            conn.execute(
                "UPDATE Settings SET value = 0 WHERE key IN ('hits', 'misses')",
                [],
            )?;
            Ok(stats)
        })
    }

    /// Creates the tag index (and stores the setting).
    pub fn create_tag_index(&self) -> Result<()> {
        self.set_tag_index(true, false)
    }

    /// Drops the tag index (and stores the setting).
    pub fn drop_tag_index(&self) -> Result<()> {
        self.set_tag_index(false, false)
    }

    pub(crate) fn set_tag_index(&self, on: bool, retry: bool) -> Result<()> {
        let index = if on { CREATE_TAG_INDEX } else { DROP_TAG_INDEX };
        self.store_setting("tag_index", i64::from(on), index, retry)?;
        self.inner.tunables.tag_index.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Writes pending records and closes the idle connections. Other clones
    /// of this handle stay usable (they reconnect on their next call).
    pub fn close(self) -> Result<()> {
        self.flush_pending()?;
        self.inner.conns.reset();
        Ok(())
    }
}
