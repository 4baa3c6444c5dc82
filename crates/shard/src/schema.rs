//! Creating and opening `cache.db`: pragmas, tables, indexes, triggers and
//! the stored settings.
//!
//! Opening first reads the schema and the stored settings in a read
//! transaction, which takes no lock that writers wait for (in WAL mode;
//! with a rollback journal, a shared lock for the moment of the read).
//! When everything is there and every stored setting is the one asked for,
//! that is all: an open never waits for another process's write
//! transaction then, however long it lasts. Otherwise (a new directory, a
//! missing table, index or trigger, a setting given to the builder that
//! differs from the stored one, a journal mode to change) it takes the
//! write lock: every step that writes runs in one `BEGIN IMMEDIATE`
//! transaction, so that many processes opening a new directory at once
//! queue on SQLite's write lock instead of failing with "database is
//! locked", and each one looks again inside that transaction and writes
//! only what is still missing or different.
//!
//! Every wait for a lock while opening, read or write, is bounded in all
//! by the builder's open timeout, not by the per-operation timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::builder::{CacheBuilder, FOREVER};
use crate::error::{Error, Result};
use crate::settings::{EvictionPolicy, JournalMode, METADATA, Settings};
use crate::{busy, conn, txn};

/// The schema. The triggers do what python-diskcache's do (keep the
/// `count` and `size` rows of `Settings` current) but skip updates that
/// change nothing, so that a write of a small value does not dirty the
/// `Settings` page; python-diskcache creates its triggers only if absent, so
/// a directory keeps whichever set it was created with.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS Settings (key TEXT NOT NULL UNIQUE, value);
CREATE TABLE IF NOT EXISTS Cache (
    rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER, store_time REAL,
    expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0,
    tag BLOB, size INTEGER DEFAULT 0, mode INTEGER DEFAULT 0,
    filename TEXT, value BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS Cache_key_raw ON Cache(key, raw);
CREATE INDEX IF NOT EXISTS Cache_expire_time ON Cache(expire_time)
    WHERE expire_time IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS Settings_count_insert AFTER INSERT ON Cache
    FOR EACH ROW BEGIN
    UPDATE Settings SET value = value + 1 WHERE key = 'count'; END;
CREATE TRIGGER IF NOT EXISTS Settings_count_delete AFTER DELETE ON Cache
    FOR EACH ROW BEGIN
    UPDATE Settings SET value = value - 1 WHERE key = 'count'; END;
CREATE TRIGGER IF NOT EXISTS Settings_size_insert AFTER INSERT ON Cache
    FOR EACH ROW WHEN NEW.size != 0 BEGIN
    UPDATE Settings SET value = value + NEW.size WHERE key = 'size'; END;
CREATE TRIGGER IF NOT EXISTS Settings_size_update AFTER UPDATE OF size ON Cache
    FOR EACH ROW WHEN NEW.size != OLD.size BEGIN
    UPDATE Settings SET value = value + NEW.size - OLD.size WHERE key = 'size'; END;
CREATE TRIGGER IF NOT EXISTS Settings_size_delete AFTER DELETE ON Cache
    FOR EACH ROW WHEN OLD.size != 0 BEGIN
    UPDATE Settings SET value = value - OLD.size WHERE key = 'size'; END;
";

/// What [`TABLES`] creates: tables, indexes and triggers, by name.
const BASE: [&str; 9] = [
    "Settings",
    "Cache",
    "Cache_key_raw",
    "Cache_expire_time",
    "Settings_count_insert",
    "Settings_count_delete",
    "Settings_size_insert",
    "Settings_size_update",
    "Settings_size_delete",
];

/// The name of the tag index.
const TAG_INDEX: &str = "Cache_tag_rowid";

pub(crate) const CREATE_TAG_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS Cache_tag_rowid ON Cache(tag, rowid) WHERE tag IS NOT NULL";
pub(crate) const DROP_TAG_INDEX: &str = "DROP INDEX IF EXISTS Cache_tag_rowid";

/// The index a cull under `policy` walks: its name and what creates it.
pub(crate) fn policy_index(policy: EvictionPolicy) -> Option<(String, String)> {
    policy.order_column().map(|col| {
        (
            format!("Cache_{col}"),
            format!("CREATE INDEX IF NOT EXISTS Cache_{col} ON Cache({col})"),
        )
    })
}

/// Opens (creating if needed) the database, returning the settings now in
/// force and the page size. Lock waits are bounded by the builder's open
/// timeout in all; `timeout`, the handle's per-operation wait, is this
/// thread's busy timeout again when it returns.
pub(crate) fn open(
    db: &Path,
    overrides: &CacheBuilder,
    timeout: Duration,
) -> Result<(Settings, u64)> {
    let started = Instant::now();
    // None: the open timeout is too long to be a deadline, so there is none.
    let deadline = started.checked_add(overrides.handle_open_timeout());
    let opened = open_until(db, overrides, started, deadline);
    busy::set_timeout(timeout);
    opened
}

/// What is left of the open timeout.
fn remaining(deadline: Option<Instant>) -> Duration {
    deadline.map_or(FOREVER, |d| d.saturating_duration_since(Instant::now()))
}

fn open_until(
    db: &Path,
    overrides: &CacheBuilder,
    started: Instant,
    deadline: Option<Instant>,
) -> Result<(Settings, u64)> {
    busy::set_timeout(remaining(deadline));
    let conn = Connection::open(db)?;
    conn::configure(&conn, "")?;
    loop {
        busy::set_timeout(remaining(deadline));
        match try_open(&conn, overrides) {
            Ok(done) => return Ok(done),
            Err(e) => {
                txn::rollback(&conn);
                let left = remaining(deadline);
                if !e.is_timeout() {
                    return Err(e);
                }
                if left.is_zero() {
                    return Err(Error::Timeout {
                        waited: started.elapsed(),
                    });
                }
                std::thread::sleep(Duration::from_millis(1).min(left));
            }
        }
    }
}

/// What a look at `cache.db` found.
struct Found {
    /// The `Settings` rows; `None` when there is no `Settings` table yet.
    rows: Option<Vec<(String, Value)>>,
    /// The names of the tables, indexes and triggers.
    names: Vec<String>,
}

impl Found {
    /// Reads the schema and the stored settings (inside the caller's
    /// transaction, so that both are of one moment).
    fn read(conn: &Connection) -> Result<Found> {
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let rows = if names.iter().any(|n| n == "Settings") {
            let mut stmt = conn.prepare("SELECT key, value FROM Settings")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?)))?;
            Some(rows.collect::<rusqlite::Result<_>>()?)
        } else {
            None
        };
        Ok(Found { rows, names })
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn stored(&self, key: &str) -> Option<&Value> {
        self.rows
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// What must be written for `settings` to be in force: schema
    /// statements, then the settings rows whose stored value means
    /// something else (a stored `134217728.0` that means the limit in force
    /// is left as it is), then the metadata rows that are missing.
    fn work(&self, settings: &Settings) -> Work {
        let mut schema = Vec::new();
        if !BASE.iter().all(|name| self.has(name)) {
            schema.push(TABLES.to_owned());
        }
        if let Some((name, create)) = policy_index(settings.eviction_policy) {
            if !self.has(&name) {
                schema.push(create);
            }
        }
        if settings.tag_index != self.has(TAG_INDEX) {
            schema.push(
                if settings.tag_index {
                    CREATE_TAG_INDEX
                } else {
                    DROP_TAG_INDEX
                }
                .to_owned(),
            );
        }
        let rows = settings
            .rows()
            .into_iter()
            .filter(|(key, _)| {
                !self
                    .stored(key)
                    .is_some_and(|stored| settings.holds_stored(key, stored))
            })
            .collect();
        let metadata = METADATA
            .into_iter()
            .filter(|key| self.stored(key).is_none())
            .collect();
        Work {
            schema,
            rows,
            metadata,
        }
    }
}

/// What an open has to write.
struct Work {
    schema: Vec<String>,
    rows: Vec<(&'static str, Value)>,
    metadata: Vec<&'static str>,
}

impl Work {
    fn is_empty(&self) -> bool {
        self.schema.is_empty() && self.rows.is_empty() && self.metadata.is_empty()
    }

    fn apply(&self, conn: &Connection) -> Result<()> {
        for sql in &self.schema {
            conn.execute_batch(sql)?;
        }
        let mut put =
            conn.prepare("INSERT OR REPLACE INTO Settings (key, value) VALUES (?1, ?2)")?;
        for (key, value) in &self.rows {
            put.execute(rusqlite::params![key, value])?;
        }
        let mut meta =
            conn.prepare("INSERT OR IGNORE INTO Settings (key, value) VALUES (?1, 0)")?;
        for key in &self.metadata {
            meta.execute([key])?;
        }
        Ok(())
    }
}

/// The stored settings with the builder's on top. A stored value the
/// builder replaces is not read, so that a damaged one can be repaired by
/// giving the setting explicitly; one it does not replace must be valid.
fn merge(rows: Option<&[(String, Value)]>, overrides: &CacheBuilder) -> Result<Settings> {
    let mut settings = Settings::default();
    for (key, value) in rows.unwrap_or_default() {
        if overrides.overrides(key) {
            continue;
        }
        settings.apply_stored(key, value)?;
    }
    if let Some((key, message)) = settings.out_of_range() {
        return Err(Error::DamagedSetting {
            key: key.to_owned(),
            message,
        });
    }
    overrides.apply(&mut settings);
    settings.validate()?;
    Ok(settings)
}

/// Makes `conn`, a new and empty database, a cache database as
/// [`open`] makes one: page size (`page_size` bytes), auto-vacuum, the
/// tables, indexes and triggers, and the settings rows. The settings are
/// the `stored` rows (those salvaged from a damaged database) where they
/// parse, else `fallback`; every other stored row but the `count` and
/// `size` metadata (which the triggers recount as rows are inserted) is
/// copied as it is. The journal mode is left for the caller to set once
/// the rows are in. Returns the settings written.
pub(crate) fn create_recovered(
    conn: &Connection,
    page_size: u64,
    stored: &[(String, Value)],
    fallback: &Settings,
) -> Result<Settings> {
    let settings = merge(Some(stored), &CacheBuilder::new()).unwrap_or_else(|_| fallback.clone());
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size}; PRAGMA auto_vacuum = {};",
        settings.sqlite_auto_vacuum
    ))?;
    txn::begin(conn)?;
    Found::read(conn)?.work(&settings).apply(conn)?;
    let written: Vec<&str> = settings.rows().into_iter().map(|(key, _)| key).collect();
    let mut put = conn.prepare("INSERT OR REPLACE INTO Settings (key, value) VALUES (?1, ?2)")?;
    for (key, value) in stored {
        if !written.contains(&key.as_str()) && key != "count" && key != "size" {
            put.execute(rusqlite::params![key, value])?;
        }
    }
    drop(put);
    conn.execute_batch("COMMIT")?;
    Ok(settings)
}

fn page_size(conn: &Connection) -> Result<u64> {
    let bytes: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(u64::try_from(bytes).unwrap_or(4096))
}

fn journal_mode(conn: &Connection) -> Result<String> {
    Ok(conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
}

fn try_open(conn: &Connection, overrides: &CacheBuilder) -> Result<(Settings, u64)> {
    // A read transaction: no lock that a writer holds is waited for.
    conn.execute_batch("BEGIN DEFERRED")?;
    let before = Found::read(conn)?;
    let mode = journal_mode(conn)?;
    let bytes = page_size(conn)?;
    conn.execute_batch("COMMIT")?;
    let early = merge(before.rows.as_deref(), overrides)?;
    let journal_ok = mode.eq_ignore_ascii_case(early.sqlite_journal_mode.as_str());
    if before.rows.is_some() && journal_ok && before.work(&early).is_empty() {
        return Ok((early, bytes));
    }

    // Pragmas that must precede the first table, or cannot run inside a
    // transaction, use the settings as they look before the lock is taken.
    if before.rows.is_none() {
        // A no-op if another process created the database meanwhile.
        if let Some(bytes) = overrides.new_page_size() {
            conn.execute_batch(&format!("PRAGMA page_size = {bytes}"))?;
        }
        conn.execute_batch(&format!(
            "PRAGMA auto_vacuum = {}",
            early.sqlite_auto_vacuum
        ))?;
    }
    if !journal_ok {
        let set: String = conn.query_row(
            &format!(
                "PRAGMA journal_mode = {}",
                early.sqlite_journal_mode.as_str()
            ),
            [],
            |r| r.get(0),
        )?;
        if early.sqlite_journal_mode == JournalMode::Wal && !set.eq_ignore_ascii_case("wal") {
            return Err(Error::Timeout {
                waited: busy::waited(),
            });
        }
    }

    // Look again under the write lock: another process may have done some
    // of it meanwhile, or changed a setting.
    txn::begin(conn)?;
    let now = Found::read(conn)?;
    let settings = merge(now.rows.as_deref(), overrides)?;
    now.work(&settings).apply(conn)?;
    conn.execute_batch("COMMIT")?;
    Ok((settings, page_size(conn)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_what_the_schema_creates() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(TABLES)?;
        let found = Found::read(&conn)?;
        let mut names = found.names.clone();
        names.retain(|n| !n.starts_with("sqlite_"));
        names.sort();
        let mut base = BASE.map(str::to_owned).to_vec();
        base.sort();
        assert_eq!(names, base);
        Ok(())
    }

    #[test]
    fn a_complete_database_needs_no_write() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        let builder = CacheBuilder::new().tag_index(true);
        let settings = merge(None, &builder)?;
        Found::read(&conn)?.work(&settings).apply(&conn)?;
        let found = Found::read(&conn)?;
        assert!(found.work(&settings).is_empty());
        let other = merge(found.rows.as_deref(), &CacheBuilder::new().size_limit(5))?;
        let work = found.work(&other);
        assert_eq!(work.rows.len(), 1);
        assert!(work.schema.is_empty() && work.metadata.is_empty());
        let untagged = merge(found.rows.as_deref(), &CacheBuilder::new().tag_index(false))?;
        assert_eq!(found.work(&untagged).schema, [DROP_TAG_INDEX]);
        Ok(())
    }
}
