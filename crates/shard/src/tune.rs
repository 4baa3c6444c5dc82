//! Settings changed while the cache is open: the size and cull limits, the
//! smallest value kept in a file, statistics, the tag index (as
//! python-diskcache's `Cache.reset` changes them); and reading them again
//! after another handle or process changed them: on request, and by every
//! call at most [`RECHECK`] after the last reading (with a check that
//! `cache.db` is still the file the handle opened).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::cache::{Cache, now};
use crate::error::{Error, Result};
use crate::settings::Settings;

/// How old a handle's reading of the changeable settings may grow before a
/// call reads them again (a write inside its transaction, a read before it
/// begins: one `stat` and one indexed query of a few rows, a few
/// microseconds once a second).
const RECHECK: f64 = 1.0;

/// The stored rows of the settings a handle may change while open.
const CHANGEABLE: &str = "SELECT key, value FROM Settings WHERE key IN \
    ('size_limit', 'cull_limit', 'disk_min_file_size', 'statistics', 'tag_index')";

/// The settings a handle may change while open, as it uses them.
pub(crate) struct Tunables {
    size: AtomicU64,
    cull: AtomicU64,
    min_file: AtomicU64,
    statistics: AtomicBool,
    pub(crate) tag_index: AtomicBool,
    /// The codec chosen at open (set once, right after the handle is made).
    pub(crate) codec: std::sync::OnceLock<crate::codec::Codec>,
    /// When (seconds since the epoch, as `f64` bits) they were last read.
    read_at: AtomicU64,
}

impl Tunables {
    pub(crate) fn new(settings: &Settings) -> Self {
        Tunables {
            size: AtomicU64::new(settings.size_limit),
            cull: AtomicU64::new(settings.cull_limit),
            min_file: AtomicU64::new(settings.disk_min_file_size),
            statistics: AtomicBool::new(settings.statistics),
            tag_index: AtomicBool::new(settings.tag_index),
            codec: std::sync::OnceLock::new(),
            read_at: AtomicU64::new(now().to_bits()),
        }
    }

    /// Whether the settings were last read [`RECHECK`] or more before
    /// `now` (or the clock went back since); if so, the caller reads them
    /// now, and the next call is due [`RECHECK`] later.
    fn take_due(&self, now: f64) -> bool {
        let last = f64::from_bits(self.read_at.load(Ordering::Relaxed));
        if last <= now && now - last < RECHECK {
            return false;
        }
        self.read_at.store(now.to_bits(), Ordering::Relaxed);
        true
    }

    /// The volume above which writes cull.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// How many entries one write may cull.
    pub(crate) fn cull(&self) -> u64 {
        self.cull.load(Ordering::Relaxed)
    }

    /// The smallest value kept in a file.
    pub(crate) fn min_file(&self) -> u64 {
        self.min_file.load(Ordering::Relaxed)
    }

    /// Whether hits and misses are counted.
    pub(crate) fn statistics(&self) -> bool {
        self.statistics.load(Ordering::Relaxed)
    }

    /// Takes these values from `settings`.
    fn adopt(&self, settings: &Settings) {
        self.size.store(settings.size_limit, Ordering::Relaxed);
        self.cull.store(settings.cull_limit, Ordering::Relaxed);
        self.min_file
            .store(settings.disk_min_file_size, Ordering::Relaxed);
        self.statistics
            .store(settings.statistics, Ordering::Relaxed);
        self.tag_index.store(settings.tag_index, Ordering::Relaxed);
    }

    /// Writes these values into `settings`.
    pub(crate) fn fill(&self, settings: &mut Settings) {
        settings.size_limit = self.size();
        settings.cull_limit = self.cull();
        settings.disk_min_file_size = self.min_file();
        settings.statistics = self.statistics();
        settings.tag_index = self.tag_index.load(Ordering::Relaxed);
    }
}

impl Cache {
    /// Changes the size limit: for this handle at once, and, stored in the
    /// database, for every other handle and process on the directory, from
    /// its first call a second or more after it last read the settings
    /// (or at once, by [`reload_settings`](Self::reload_settings)). Nothing
    /// is removed now: each later write culls up to the cull limit, and
    /// [`cull`](Self::cull) brings the volume under the new limit at once.
    ///
    /// ```
    /// use diskcache_shard::Cache;
    /// let cache = Cache::builder().open_temp()?;
    /// cache.set_size_limit(64 << 20)?;
    /// assert_eq!(cache.settings().size_limit, 64 << 20);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn set_size_limit(&self, bytes: u64) -> Result<()> {
        self.set_size_limit_as(bytes, false)
    }

    pub(crate) fn set_size_limit_as(&self, bytes: u64, retry: bool) -> Result<()> {
        self.store_u64("size_limit", &self.inner.tunables.size, bytes, retry)
    }

    /// Changes how many entries one write may cull (0: writes never cull),
    /// stored as [`set_size_limit`](Self::set_size_limit) stores its value.
    /// python-diskcache's users set 0 during a bulk load, then
    /// [`cull`](Self::cull) once.
    pub fn set_cull_limit(&self, entries: u64) -> Result<()> {
        self.set_cull_limit_as(entries, false)
    }

    pub(crate) fn set_cull_limit_as(&self, entries: u64, retry: bool) -> Result<()> {
        self.store_u64("cull_limit", &self.inner.tunables.cull, entries, retry)
    }

    /// Changes the size from which a value is kept in a file of its own, for
    /// values written from now on (stored values stay where they are),
    /// stored as [`set_size_limit`](Self::set_size_limit) stores its value.
    /// Zero puts every byte string, text and MessagePack value in a file,
    /// as python-diskcache does with `disk_min_file_size = 0`.
    pub fn set_min_file_size(&self, bytes: u64) -> Result<()> {
        self.set_min_file_size_as(bytes, false)
    }

    pub(crate) fn set_min_file_size_as(&self, bytes: u64, retry: bool) -> Result<()> {
        let slot = &self.inner.tunables.min_file;
        self.store_u64("disk_min_file_size", slot, bytes, retry)
    }

    /// Turns statistics on or off, stored as
    /// [`set_size_limit`](Self::set_size_limit) stores its value.
    pub fn set_statistics(&self, on: bool) -> Result<()> {
        self.set_statistics_as(on, false)
    }

    pub(crate) fn set_statistics_as(&self, on: bool, retry: bool) -> Result<()> {
        self.store_setting("statistics", i64::from(on), "", retry)?;
        self.inner.tunables.statistics.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the settings a handle may change while open (size limit, cull
    /// limit, smallest file, statistics, whether there is a tag index) again
    /// from the database, where another handle or process may have changed
    /// them, and uses them from now on; returns the settings in force.
    /// Calls do this by themselves once a second; this is for a change
    /// that must hold at once. The other settings (eviction policy, SQLite's
    /// pragmas) take a reopen.
    ///
    /// ```
    /// use diskcache_shard::Cache;
    /// let dir = tempfile::tempdir()?;
    /// let cache = Cache::builder().open(dir.path())?;
    /// let other = Cache::builder().open(dir.path())?;
    /// other.set_cull_limit(0)?;
    /// assert_eq!(cache.settings().cull_limit, 10);
    /// assert_eq!(cache.reload_settings()?.cull_limit, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reload_settings(&self) -> Result<Settings> {
        let stored = self.with_conn(|conn| self.stored_changeable(conn))?;
        self.inner.tunables.adopt(&stored?);
        Ok(self.settings())
    }

    /// Inside a write's transaction, when the last reading is [`RECHECK`]
    /// old: checks that `cache.db` is still the file this handle writes
    /// (see `Connections::follow_file`; if not, the write fails), and reads
    /// the changeable settings again, so that a change another process made
    /// takes effect here too. Values that do not parse leave the ones in
    /// force (they were valid when this handle opened).
    pub(crate) fn recheck(&self, conn: &Connection, now: f64) -> Result<()> {
        if !self.inner.tunables.take_due(now) {
            return Ok(());
        }
        self.adopt_stored(conn)
    }

    /// The same for a call outside a transaction (a read), before it takes
    /// a connection: when `cache.db` is no longer the file this handle
    /// opened, the call goes to whatever is at the path now (and fails if
    /// nothing is), rather than reading entries nobody else sees any more.
    pub(crate) fn refresh(&self, now: f64) -> Result<()> {
        if !self.inner.tunables.take_due(now) {
            return Ok(());
        }
        // A change has dropped the connections; the next one opens the path.
        let _ = self.inner.conns.follow_file();
        let conn = self.inner.conns.get()?;
        self.adopt_stored(&conn)
    }

    /// Uses the changeable settings as stored, unless they do not parse.
    fn adopt_stored(&self, conn: &Connection) -> Result<()> {
        if let Ok(stored) = self.stored_changeable(conn)? {
            self.inner.tunables.adopt(&stored);
        }
        Ok(())
    }

    /// The settings in force with the changeable ones as stored: the outer
    /// error is SQLite's, the inner one a stored value that is invalid.
    fn stored_changeable(&self, conn: &Connection) -> Result<Result<Settings>> {
        let rows: Vec<(String, Value)> = conn
            .prepare_cached(CHANGEABLE)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stored = self.settings();
        let parsed = rows
            .iter()
            .try_for_each(|(key, value)| stored.apply_stored(key, value))
            .and_then(|()| stored.validate());
        Ok(parsed.map(|()| stored))
    }

    /// Stores `value` under the setting `key`, then uses it; refused as
    /// opening refuses a stored value that is invalid.
    fn store_u64(&self, key: &str, slot: &AtomicU64, value: u64, retry: bool) -> Result<()> {
        let stored = i64::try_from(value)
            .map_err(|_| Error::invalid(format!("{key} {value} is out of range")))?;
        let mut next = self.settings();
        next.apply_stored(key, &Value::Integer(stored))?;
        next.validate()?;
        self.store_setting(key, stored, "", retry)?;
        slot.store(value, Ordering::Relaxed);
        Ok(())
    }

    /// Stores `value` under the setting `key`, in one transaction after
    /// `first` (what the setting calls for in the schema, or nothing);
    /// with `retry`, again while the lock wait times out.
    pub(crate) fn store_setting(
        &self,
        key: &str,
        value: i64,
        first: &str,
        retry: bool,
    ) -> Result<()> {
        self.write_as(retry, |conn, _| {
            conn.execute_batch(first)?;
            conn.execute(
                "UPDATE Settings SET value = ?1 WHERE key = ?2",
                rusqlite::params![value, key],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Value files under `dir`.
    fn value_files(dir: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    value_files(&path)
                } else {
                    usize::from(path.extension().is_some_and(|x| x == "val"))
                }
            })
            .sum()
    }

    #[test]
    fn changes_are_stored_and_used_at_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let cache = Cache::builder()
            .min_file_size(100)
            .size_limit(0)
            .cull_limit(0)
            .open(dir.path())?;
        cache.set("file", &vec![1u8; 1000])?;
        assert_eq!(value_files(dir.path()), 1);
        cache.set_min_file_size(1 << 20)?;
        cache.set("inline", &vec![1u8; 1000])?;
        assert_eq!(value_files(dir.path()), 1, "a value over the old minimum");

        // Over the limit, writes cull once they may.
        for i in 0..20 {
            cache.set(&i, &i)?;
        }
        assert_eq!(cache.len()?, 22);
        cache.set_cull_limit(5)?;
        cache.set("one more", &1)?;
        assert_eq!(cache.len()?, 22 + 1 - 5);
        cache.set_size_limit(1 << 30)?;
        cache.set("another", &1)?;
        assert_eq!(cache.len()?, 19);

        let s = cache.settings();
        let set = (s.size_limit, s.cull_limit, s.disk_min_file_size);
        assert_eq!(set, (1 << 30, 5, 1 << 20));
        drop(cache);
        let reopened = Cache::builder().open(dir.path())?;
        let s = reopened.settings();
        assert_eq!((s.size_limit, s.cull_limit, s.disk_min_file_size), set);
        assert!(matches!(
            reopened.set_size_limit(u64::MAX),
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(reopened.settings().size_limit, 1 << 30);
        Ok(())
    }

    #[test]
    fn reads_alone_take_up_a_change() -> Result<()> {
        let cache = Cache::builder().open_temp()?;
        let other = Cache::builder().open(cache.directory())?;
        other.set_cull_limit(4)?;
        other.set_statistics(true)?;
        let opened = now();
        cache.refresh(opened + 0.5 * RECHECK)?;
        assert_eq!(cache.settings().cull_limit, 10, "read again too soon");
        cache.refresh(opened + 2.0 * RECHECK)?;
        let s = cache.settings();
        assert_eq!((s.cull_limit, s.statistics), (4, true));
        Ok(())
    }

    #[test]
    fn writes_read_a_change_again_and_keep_their_values_over_a_bad_one() -> Result<()> {
        let cache = Cache::builder().open_temp()?;
        let other = rusqlite::Connection::open(cache.directory().join("cache.db"))?;
        let store = |key: &str, value: &str| {
            other.execute(
                "UPDATE Settings SET value = ?1 WHERE key = ?2",
                [value, key],
            )
        };
        store("size_limit", "junk")?;
        store("cull_limit", "3")?;
        let conn = cache.inner.conns.get()?;
        let later = now() + 2.0 * RECHECK;
        cache.recheck(&conn, later)?;
        assert_eq!(cache.settings().cull_limit, 10, "a bad row was adopted");

        store("size_limit", "777")?;
        cache.recheck(&conn, later + 0.5 * RECHECK)?;
        assert_eq!(cache.settings().size_limit, 1 << 30, "read again too soon");
        cache.recheck(&conn, later + RECHECK)?;
        let s = cache.settings();
        assert_eq!((s.size_limit, s.cull_limit), (777, 3));

        store("size_limit", "junk")?;
        assert!(matches!(
            cache.reload_settings(),
            Err(Error::DamagedSetting { key, .. }) if key == "size_limit"
        ));
        assert_eq!(cache.settings().size_limit, 777);
        Ok(())
    }
}
