//! Creating and opening `cache.db`: pragmas, tables, indexes, triggers and
//! the stored settings.
//!
//! Opening is safe when many processes open a new directory at once: every
//! step that writes runs in one `BEGIN IMMEDIATE` transaction, so openers
//! queue on SQLite's write lock instead of failing with "database is
//! locked", and each re-reads the stored settings inside that transaction.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::builder::CacheBuilder;
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

pub(crate) const CREATE_TAG_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS Cache_tag_rowid ON Cache(tag, rowid) WHERE tag IS NOT NULL";
pub(crate) const DROP_TAG_INDEX: &str = "DROP INDEX IF EXISTS Cache_tag_rowid";

/// The index a cull under `policy` walks.
pub(crate) fn policy_index(policy: EvictionPolicy) -> Option<String> {
    policy
        .order_column()
        .map(|col| format!("CREATE INDEX IF NOT EXISTS Cache_{col} ON Cache({col})",))
}

/// Opens (creating if needed) the database, returning the settings now in
/// force and the page size.
pub(crate) fn open(
    db: &Path,
    overrides: &CacheBuilder,
    timeout: Duration,
) -> Result<(Settings, u64)> {
    busy::set_timeout(timeout);
    let started = Instant::now();
    let conn = Connection::open(db)?;
    conn::configure(&conn, "")?;
    loop {
        match try_open(&conn, overrides) {
            Ok(done) => return Ok(done),
            Err(e) if e.is_timeout() && started.elapsed() < timeout => {
                txn::rollback(&conn);
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                txn::rollback(&conn);
                return Err(match e {
                    Error::Timeout { .. } => Error::Timeout {
                        waited: started.elapsed(),
                    },
                    other => other,
                });
            }
        }
    }
}

fn stored(conn: &Connection) -> Result<Option<Vec<(String, Value)>>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Settings'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT key, value FROM Settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?)))?;
    Ok(Some(rows.collect::<rusqlite::Result<_>>()?))
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

fn try_open(conn: &Connection, overrides: &CacheBuilder) -> Result<(Settings, u64)> {
    // Pragmas that must precede the first table, or cannot run inside a
    // transaction, use the settings as they look before the lock is taken.
    let before = stored(conn)?;
    let early = merge(before.as_deref(), overrides)?;
    if before.is_none() {
        // A no-op if another process created the database meanwhile.
        if let Some(bytes) = overrides.new_page_size() {
            conn.execute_batch(&format!("PRAGMA page_size = {bytes}"))?;
        }
        conn.execute_batch(&format!(
            "PRAGMA auto_vacuum = {}",
            early.sqlite_auto_vacuum
        ))?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case(early.sqlite_journal_mode.as_str()) {
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

    txn::begin(conn)?;
    let rows = stored(conn)?;
    let settings = merge(rows.as_deref(), overrides)?;
    conn.execute_batch(TABLES)?;
    if let Some(index) = policy_index(settings.eviction_policy) {
        conn.execute_batch(&index)?;
    }
    conn.execute_batch(if settings.tag_index {
        CREATE_TAG_INDEX
    } else {
        DROP_TAG_INDEX
    })?;
    {
        let mut put =
            conn.prepare("INSERT OR REPLACE INTO Settings (key, value) VALUES (?1, ?2)")?;
        for (key, value) in settings.rows() {
            put.execute(rusqlite::params![key, value])?;
        }
        let mut meta =
            conn.prepare("INSERT OR IGNORE INTO Settings (key, value) VALUES (?1, 0)")?;
        for key in METADATA {
            meta.execute([key])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((settings, u64::try_from(page_size).unwrap_or(4096)))
}
