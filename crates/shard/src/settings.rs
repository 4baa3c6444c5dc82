//! The persistent settings kept in the `Settings` table.

use rusqlite::types::Value;

use crate::error::{Error, Result};

/// Which entries a cull removes first once the cache is over its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Never evict by size (expired entries are still removed).
    None,
    /// Evict the entries stored longest ago (the default).
    LeastRecentlyStored,
    /// Evict the entries read longest ago.
    LeastRecentlyUsed,
    /// Evict the entries read least often.
    LeastFrequentlyUsed,
}

impl EvictionPolicy {
    /// The name stored in the `Settings` table, as python-diskcache spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::None => "none",
            EvictionPolicy::LeastRecentlyStored => "least-recently-stored",
            EvictionPolicy::LeastRecentlyUsed => "least-recently-used",
            EvictionPolicy::LeastFrequentlyUsed => "least-frequently-used",
        }
    }

    /// Parses a stored policy name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "none" => EvictionPolicy::None,
            "least-recently-stored" => EvictionPolicy::LeastRecentlyStored,
            "least-recently-used" => EvictionPolicy::LeastRecentlyUsed,
            "least-frequently-used" => EvictionPolicy::LeastFrequentlyUsed,
            other => return Err(Error::invalid(format!("unknown eviction policy {other:?}"))),
        })
    }

    /// The column a cull orders by, and the index that serves it.
    pub(crate) fn order_column(self) -> Option<&'static str> {
        match self {
            EvictionPolicy::None => None,
            EvictionPolicy::LeastRecentlyStored => Some("store_time"),
            EvictionPolicy::LeastRecentlyUsed => Some("access_time"),
            EvictionPolicy::LeastFrequentlyUsed => Some("access_count"),
        }
    }

    /// True when a read must record an access.
    pub(crate) fn tracks_access(self) -> bool {
        matches!(
            self,
            EvictionPolicy::LeastRecentlyUsed | EvictionPolicy::LeastFrequentlyUsed
        )
    }
}

/// SQLite's `synchronous` setting: what a committed write survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Synchronous {
    /// No fsync at all: a committed write survives a process crash only if
    /// the operating system does not crash too, and the database may be
    /// corrupted by a power loss.
    Off,
    /// WAL is synced at checkpoints only (the default): a committed write
    /// survives a process crash; a power loss may roll back the last
    /// commits but never corrupts the database.
    Normal,
    /// Every commit is synced, and so are value files before their row
    /// commits: a committed write survives a power loss.
    Full,
}

impl Synchronous {
    fn code(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
        }
    }

    fn from_code(code: i64) -> Result<Self> {
        Ok(match code {
            0 => Synchronous::Off,
            1 => Synchronous::Normal,
            2 | 3 => Synchronous::Full,
            other => {
                return Err(Error::invalid(format!(
                    "unknown sqlite_synchronous {other}"
                )));
            }
        })
    }
}

/// SQLite's journal mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JournalMode {
    /// Write-ahead log (the default): readers never wait for a writer.
    Wal,
    /// Rollback journal, deleted after each transaction.
    Delete,
    /// Rollback journal, truncated after each transaction.
    Truncate,
    /// Rollback journal, kept with its header zeroed.
    Persist,
}

impl JournalMode {
    /// The name SQLite and python-diskcache use.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "wal" => JournalMode::Wal,
            "delete" => JournalMode::Delete,
            "truncate" => JournalMode::Truncate,
            "persist" => JournalMode::Persist,
            other => {
                return Err(Error::invalid(format!(
                    "unsupported journal mode {other:?}"
                )));
            }
        })
    }
}

/// The settings a cache runs with; persisted in its `Settings` table.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// Count hits and misses.
    pub statistics: bool,
    /// Keep an index on tags (faster [`Cache::evict`](crate::Cache::evict)).
    pub tag_index: bool,
    /// What a cull removes first.
    pub eviction_policy: EvictionPolicy,
    /// The volume, in bytes, from which writes cull entries. A fractional
    /// limit python-diskcache stored (its `FanoutCache(shards=3)` gives each
    /// shard 2³⁰ / 3) is read rounded up, which culls exactly when python
    /// does: it compares a whole number of bytes against the float.
    pub size_limit: u64,
    /// How many entries one write may cull; 0 disables culling on write.
    /// A fractional stored count is read rounded down.
    pub cull_limit: u64,
    /// SQLite `auto_vacuum` (0 none, 1 full, 2 incremental).
    pub sqlite_auto_vacuum: i64,
    /// SQLite `cache_size` (pages when positive, KiB when negative).
    pub sqlite_cache_size: i64,
    /// SQLite journal mode.
    pub sqlite_journal_mode: JournalMode,
    /// SQLite `mmap_size` in bytes (0: pages are read with system calls).
    pub sqlite_mmap_size: i64,
    /// SQLite `synchronous`: the durability of a commit.
    pub sqlite_synchronous: Synchronous,
    /// Byte strings, text and MessagePack values of at least this many
    /// bytes are kept in files; 0 puts every one of them in a file, as in
    /// python-diskcache (integers and floats always stay in the database).
    /// A fractional stored value is read rounded up, as python compares a
    /// length against it.
    pub disk_min_file_size: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            statistics: false,
            tag_index: false,
            eviction_policy: EvictionPolicy::LeastRecentlyStored,
            size_limit: 1 << 30,
            cull_limit: 10,
            sqlite_auto_vacuum: 1,
            sqlite_cache_size: 1 << 13,
            sqlite_journal_mode: JournalMode::Wal,
            sqlite_mmap_size: 0,
            sqlite_synchronous: Synchronous::Normal,
            disk_min_file_size: 1 << 15,
        }
    }
}

/// The `Settings` keys that hold metadata rather than settings.
pub(crate) const METADATA: [&str; 4] = ["count", "size", "hits", "misses"];

/// An integer setting: INTEGER as stored, integral text, or REAL cut
/// toward zero (python-diskcache hands the SQLite pragmas their stored
/// value as text, `PRAGMA cache_size = 8192.5`, and SQLite reads the
/// digits before the point). NaN, infinities and reals beyond `i64` are
/// damaged.
fn as_int(value: &Value) -> Result<i64> {
    match value {
        Value::Integer(i) => Ok(*i),
        Value::Real(r) if r.is_finite() && r.abs() < I64_BOUND => Ok(r.trunc() as i64),
        Value::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| Error::invalid(format!("not an integer: {t:?}"))),
        other => Err(Error::invalid(format!("not an integer: {other:?}"))),
    }
}

/// 2⁶³: reals from here on have no `i64`.
const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

/// A flag (`statistics`, `tag_index`): python-diskcache tests the stored
/// value's truth, so any number other than zero is on.
fn as_flag(value: &Value) -> Result<bool> {
    match value {
        Value::Real(r) if r.is_nan() => Err(Error::invalid("not a number")),
        Value::Real(r) => Ok(*r != 0.0),
        other => Ok(as_int(other)? != 0),
    }
}

/// How a fractional stored size becomes bytes.
#[derive(Clone, Copy)]
enum Round {
    /// Up: python compares a whole number of bytes against the float, and
    /// `bytes >= 357913941.33` holds exactly when `bytes >= 357913942`.
    Up,
    /// Down: the value is a count (python hands it to SQLite's `LIMIT`,
    /// which takes whole numbers only).
    Down,
}

/// A size or count that cannot be negative. A REAL is accepted as python
/// uses it (`FanoutCache(shards=3)` stores each shard's `size_limit` as
/// 2³⁰ / 3): rounded as `round` says, and with `Round::Up` positive
/// infinity (python: never reached) is `u64::MAX`. NaN and negative
/// values are damaged.
fn as_u64(value: &Value, round: Round) -> Result<u64> {
    match (value, round) {
        (Value::Real(r), _) if r.is_nan() || *r < 0.0 => {
            Err(Error::invalid(format!("not a size: {r}")))
        }
        (Value::Real(r), Round::Down) if r.is_infinite() => {
            Err(Error::invalid(format!("not a count: {r}")))
        }
        // `as` saturates: 2⁶⁴ and beyond, infinity included, is u64::MAX.
        (Value::Real(r), Round::Up) => Ok(r.ceil() as u64),
        (Value::Real(r), Round::Down) => Ok(r.floor() as u64),
        (other, _) => u64::try_from(as_int(other)?).map_err(|_| Error::invalid("negative")),
    }
}

fn as_text(value: &Value) -> Result<&str> {
    match value {
        Value::Text(t) => Ok(t),
        other => Err(Error::invalid(format!("not text: {other:?}"))),
    }
}

impl Settings {
    /// Whether the stored `value` of `key` means what these settings hold
    /// (an open then leaves it as python-diskcache wrote it, a float say).
    pub(crate) fn holds_stored(&self, key: &str, value: &Value) -> bool {
        let mut parsed = self.clone();
        parsed.apply_stored(key, value).is_ok() && parsed == *self
    }

    /// Applies one stored `(key, value)` row; unknown keys are ignored. A
    /// value that does not parse is [`Error::DamagedSetting`].
    pub(crate) fn apply_stored(&mut self, key: &str, value: &Value) -> Result<()> {
        self.apply_value(key, value).map_err(|e| match e {
            Error::InvalidInput { message } => Error::DamagedSetting {
                key: key.to_owned(),
                message,
            },
            other => other,
        })
    }

    fn apply_value(&mut self, key: &str, value: &Value) -> Result<()> {
        match key {
            "statistics" => self.statistics = as_flag(value)?,
            "tag_index" => self.tag_index = as_flag(value)?,
            "eviction_policy" => self.eviction_policy = EvictionPolicy::parse(as_text(value)?)?,
            "size_limit" => self.size_limit = as_u64(value, Round::Up)?,
            "cull_limit" => self.cull_limit = as_u64(value, Round::Down)?,
            "sqlite_auto_vacuum" => self.sqlite_auto_vacuum = as_int(value)?,
            "sqlite_cache_size" => self.sqlite_cache_size = as_int(value)?,
            "sqlite_journal_mode" => {
                self.sqlite_journal_mode = JournalMode::parse(as_text(value)?)?
            }
            "sqlite_mmap_size" => self.sqlite_mmap_size = as_int(value)?,
            "sqlite_synchronous" => {
                self.sqlite_synchronous = Synchronous::from_code(as_int(value)?)?
            }
            "disk_min_file_size" => self.disk_min_file_size = as_u64(value, Round::Up)?,
            _ => {}
        }
        Ok(())
    }

    /// The rows to store, as python-diskcache names and types them.
    pub(crate) fn rows(&self) -> Vec<(&'static str, Value)> {
        let int = |v: u64| Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
        vec![
            ("statistics", Value::Integer(i64::from(self.statistics))),
            ("tag_index", Value::Integer(i64::from(self.tag_index))),
            (
                "eviction_policy",
                Value::Text(self.eviction_policy.as_str().into()),
            ),
            ("size_limit", int(self.size_limit)),
            ("cull_limit", int(self.cull_limit)),
            (
                "sqlite_auto_vacuum",
                Value::Integer(self.sqlite_auto_vacuum),
            ),
            ("sqlite_cache_size", Value::Integer(self.sqlite_cache_size)),
            (
                "sqlite_journal_mode",
                Value::Text(self.sqlite_journal_mode.as_str().into()),
            ),
            ("sqlite_mmap_size", Value::Integer(self.sqlite_mmap_size)),
            (
                "sqlite_synchronous",
                Value::Integer(self.sqlite_synchronous.code()),
            ),
            ("disk_min_file_size", int(self.disk_min_file_size)),
        ]
    }

    /// The per-connection pragmas these settings call for. In WAL mode
    /// SQLite's automatic checkpoints are off: a background thread does
    /// them (see `checkpoint.rs`).
    pub(crate) fn connection_pragmas(&self) -> String {
        // A log that grew past 40 MiB is cut back to it when it restarts.
        // The log reaches about 33 MiB while writers contend (checkpoint.rs);
        // cutting it shorter than that makes the next writers grow the file
        // again, block by block, which stalls them behind the checkpoint's
        // fsync (measured: 2 writer processes, 8 shards, 42-45k sets/s with
        // an 8 MiB limit, 46-55k without one).
        let wal = if self.sqlite_journal_mode == JournalMode::Wal {
            " PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 41943040;"
        } else {
            ""
        };
        format!(
            "PRAGMA cache_size = {}; PRAGMA mmap_size = {}; PRAGMA synchronous = {};{wal}",
            self.sqlite_cache_size,
            self.sqlite_mmap_size,
            self.sqlite_synchronous.code()
        )
    }

    /// Rejects combinations that cannot work.
    pub(crate) fn validate(&self) -> Result<()> {
        match self.out_of_range() {
            Some((_, message)) => Err(Error::invalid(message)),
            None => Ok(()),
        }
    }

    /// The first setting whose value cannot work, and why.
    pub(crate) fn out_of_range(&self) -> Option<(&'static str, String)> {
        if !(0..=2).contains(&self.sqlite_auto_vacuum) {
            return Some((
                "sqlite_auto_vacuum",
                format!(
                    "sqlite_auto_vacuum must be 0, 1 or 2, not {}",
                    self.sqlite_auto_vacuum
                ),
            ));
        }
        if self.sqlite_mmap_size < 0 {
            return Some((
                "sqlite_mmap_size",
                "sqlite_mmap_size must not be negative".into(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() -> Result<()> {
        let mut s = Settings {
            statistics: true,
            eviction_policy: EvictionPolicy::LeastFrequentlyUsed,
            size_limit: 12345,
            sqlite_synchronous: Synchronous::Full,
            ..Settings::default()
        };
        let rows = s.rows();
        let mut back = Settings::default();
        for (k, v) in &rows {
            back.apply_stored(k, v)?;
        }
        assert_eq!(back, s);
        s.apply_stored("disk_pickle_protocol", &Value::Integer(5))?;
        Ok(())
    }

    #[test]
    fn bad_stored_values_are_errors() {
        let mut s = Settings::default();
        assert!(
            s.apply_stored("eviction_policy", &Value::Text("random".into()))
                .is_err()
        );
        assert!(s.apply_stored("size_limit", &Value::Integer(-1)).is_err());
        assert!(s.apply_stored("cull_limit", &Value::Blob(vec![1])).is_err());
        assert!(
            s.apply_stored("statistics", &Value::Text("1".into()))
                .is_ok()
        );
        assert!(s.statistics);
    }
}
