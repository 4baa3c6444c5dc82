//! Repairing damage inside `cache.db`: `VACUUM`, and where that cannot,
//! recovering every readable row into a new database swapped in its place.
//!
//! `VACUUM` rebuilds the whole file from the rows (and the indexes from the
//! tables), which repairs damage in the file's header, in free pages and in
//! indexes; it runs under SQLite's locking like any write. Damage to a
//! table's own pages makes it fail (the rows cannot be read). Then the
//! rows that can still be read are copied, table by table, into a new
//! database made with the crate's own schema, written beside `cache.db`,
//! synced, and renamed over it; the damaged file is kept beside it as
//! `cache.db.damaged-<unix time>`. Renaming a file over the database is not
//! safe while other connections have it open (they would go on using the
//! damaged file, or worse, its log), so recovery requires that no other
//! handle or process uses the cache meanwhile; it refuses when SQLite
//! shows another connection reading the log.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::ffi::ErrorCode;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::schema;
use crate::settings::{JournalMode, Settings};

/// The columns of `Cache`, in the order they are copied.
const CACHE_COLUMNS: &str = "rowid, key, raw, store_time, expire_time, access_time, \
     access_count, tag, size, mode, filename, value";

/// What a recovery did.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// `Cache` rows copied into the new database.
    pub(crate) rows: u64,
    /// `Settings` rows read from the damaged database.
    pub(crate) settings: u64,
    /// The rows the damaged database's `count` said it held, if readable.
    pub(crate) recorded: Option<u64>,
    /// Where the damaged file was kept.
    pub(crate) damaged: PathBuf,
}

/// Whether `e` says the database file itself is damaged (rather than
/// busy, out of space or unreadable for the OS).
pub(crate) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Whether a failed `VACUUM` may still leave recovery something to do: any
/// failure but a busy database, a full disk or another OS-level failure,
/// which recovery would meet as well (or, for a busy database, must not
/// run into: other connections are at work).
pub(crate) fn worth_recovering(e: &rusqlite::Error) -> bool {
    !matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
        )
    )
}

/// SQLite's integrity check: the lines of what it found wrong, empty when
/// the database is sound. An error saying the file is damaged (when even
/// the check cannot read it) is one more line.
pub(crate) fn integrity(conn: &Connection) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let checked = (|| -> rusqlite::Result<()> {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let line: String = row.get(0)?;
            if line != "ok" {
                found.push(line);
            }
        }
        Ok(())
    })();
    match checked {
        Ok(()) => Ok(found),
        Err(e) if is_damage(&e) => {
            found.push(e.to_string());
            Ok(found)
        }
        Err(e) => Err(e.into()),
    }
}

/// Rows of `table` (`columns`, the first being `rowid`) that can be read,
/// in rowid order, walking past the damaged parts of its b-tree: where a
/// read fails, the next rowid that can be reached is searched for (a seek
/// into a damaged page fails, one past it lands on the next good page),
/// and a single row that cannot be read is left out.
fn salvage(conn: &Connection, table: &str, columns: &str) -> Result<Vec<Vec<Value>>> {
    let count = columns.split(',').count();
    let first_sql = format!("SELECT rowid FROM {table} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1");
    let row_sql = format!("SELECT {columns} FROM {table} WHERE rowid = ?1");
    // The first rowid at or after `from`; an error when the seek meets a
    // damaged page.
    let first = |from: i64| -> rusqlite::Result<Option<i64>> {
        let mut stmt = conn.prepare_cached(&first_sql)?;
        let mut rows = stmt.query([from])?;
        match rows.next()? {
            Some(row) => row.get(0).map(Some),
            None => Ok(None),
        }
    };
    let read = |rowid: i64| -> rusqlite::Result<Option<Vec<Value>>> {
        let mut stmt = conn.prepare_cached(&row_sql)?;
        let mut rows = stmt.query([rowid])?;
        match rows.next()? {
            Some(row) => (0..count)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map(Some),
            None => Ok(None),
        }
    };
    let fatal =
        |e: rusqlite::Error| -> Result<()> { if is_damage(&e) { Ok(()) } else { Err(e.into()) } };
    let mut out = Vec::new();
    let mut from = i64::MIN;
    loop {
        match first(from) {
            Ok(None) => break,
            Ok(Some(rowid)) => {
                match read(rowid) {
                    Ok(Some(row)) => out.push(row),
                    Ok(None) => {}
                    Err(e) => fatal(e)?,
                }
                match rowid.checked_add(1) {
                    Some(next) => from = next,
                    None => break,
                }
            }
            Err(e) => {
                fatal(e)?;
                match reachable_after(from, &first) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
    }
    Ok(out)
}

/// The smallest `s > from` at which a seek succeeds (`None` when none up to
/// the largest rowid does): steps doubling from 1 find one, then halving
/// steps the smallest.
fn reachable_after(from: i64, first: &dyn Fn(i64) -> rusqlite::Result<Option<i64>>) -> Option<i64> {
    let ok = |at: i128| -> bool { i64::try_from(at).is_ok_and(|at| first(at).is_ok()) };
    let from = i128::from(from);
    let max = i128::from(i64::MAX);
    // `bad` fails (or is `from`, which did), `good` succeeds.
    let mut bad = from;
    let mut step: i128 = 1;
    let good = loop {
        let at = (from + step).min(max);
        if ok(at) {
            break at;
        }
        bad = at;
        if at == max {
            return None;
        }
        step *= 2;
    };
    let mut good = good;
    while good - bad > 1 {
        let mid = bad + (good - bad) / 2;
        if ok(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    i64::try_from(good).ok()
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes `path` if it is there.
fn remove_stale(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A name beside `db` for the damaged copy that nothing holds yet.
fn damaged_name(db: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = beside(db, &format!(".damaged-{secs}"));
    let mut candidate = base.clone();
    let mut n = 1;
    while fs::symlink_metadata(&candidate).is_ok() {
        candidate = beside(&base, &format!("-{n}"));
        n += 1;
    }
    candidate
}

/// Recovers the readable rows of the database `db` into a new one swapped
/// in its place (see the module docs). `fallback` gives the settings when
/// the stored ones cannot be read. Every connection to `db` of this
/// process must be closed (or at least idle and about to be dropped).
pub(crate) fn recover(db: &Path, fallback: &Settings) -> Result<Recovered> {
    // A `cache.db` that is a link: the file it leads to is the database.
    let db = fs::canonicalize(db).map_err(|e| Error::io(db, e))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let src = Connection::open_with_flags(&db, flags)?;
    src.busy_handler(Some(crate::busy::handler))?;
    let page_size: u64 = src
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .ok()
        .and_then(|b| u64::try_from(b).ok())
        .unwrap_or(4096);
    src.execute_batch("BEGIN")?;
    let rows = salvage(&src, "Cache", CACHE_COLUMNS)?;
    let settings_rows: Vec<(String, Value)> = salvage(&src, "Settings", "rowid, key, value")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [_, Value::Text(key), value] => Some((key.clone(), value.clone())),
            _ => None,
        })
        .collect();
    let recorded = settings_rows
        .iter()
        .find(|(key, _)| key == "count")
        .and_then(|(_, value)| match value {
            Value::Integer(n) => u64::try_from(*n).ok(),
            _ => None,
        });
    // A read transaction: nothing to commit, and ending it must not fail
    // on the damage it met.
    let _ = src.execute_batch("ROLLBACK");
    // Everything in the log goes into the file (which is kept as the
    // damaged copy), and the log is emptied, so that nothing of it is ever
    // applied to the new file. A connection reading the log stops that:
    // someone else uses the cache, and the swap would pull the file from
    // under it.
    let (busy, _, _): (i64, i64, i64) =
        src.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    drop(src);
    let wal = beside(&db, "-wal");
    let wal_left = fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if busy != 0 || wal_left {
        return Err(Error::io(
            &db,
            io::Error::other(
                "another connection is using the database; recovering it needs the cache to \
                 itself (stop every other handle and process, then check with fix again)",
            ),
        ));
    }

    let new = beside(&db, ".recovered");
    for suffix in ["", "-journal", "-wal", "-shm"] {
        remove_stale(&beside(&new, suffix))?;
    }
    let settings = build(&new, page_size, &rows, &settings_rows, fallback)?;
    let copied = settings.1;
    File::open(&new)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&new, e))?;

    let damaged = damaged_name(&db);
    if fs::hard_link(&db, &damaged).is_err() {
        fs::copy(&db, &damaged).map_err(|e| Error::io(&damaged, e))?;
        File::open(&damaged)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&damaged, e))?;
    }
    fs::rename(&new, &db).map_err(|e| Error::io(&db, e))?;
    if let Some(folder) = db.parent() {
        File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(folder, e))?;
    }
    Ok(Recovered {
        rows: copied,
        settings: settings_rows.len() as u64,
        recorded,
        damaged,
    })
}

/// Writes the new database at `path`: the schema, the settings, then the
/// rows. Returns the settings written and how many rows went in.
fn build(
    path: &Path,
    page_size: u64,
    rows: &[Vec<Value>],
    stored: &[(String, Value)],
    fallback: &Settings,
) -> Result<(Settings, u64)> {
    let conn = Connection::open(path)?;
    let settings = schema::create_recovered(&conn, page_size, stored, fallback)?;
    let mut copied = 0;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    {
        // A key that two damaged rows both hold is kept once.
        let mut put = conn.prepare(&format!(
            "INSERT OR IGNORE INTO Cache ({CACHE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))?;
        for row in rows {
            copied += put.execute(rusqlite::params_from_iter(row.iter()))? as u64;
        }
    }
    conn.execute_batch("COMMIT")?;
    let left = integrity(&conn)?;
    if !left.is_empty() {
        return Err(Error::corrupt(format!(
            "the database recovered into {} fails its integrity check: {}",
            path.display(),
            left.join("; ")
        )));
    }
    // A rollback journal is each connection's choice; the log is the file's.
    if settings.sqlite_journal_mode == JournalMode::Wal {
        let _: String = conn.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0))?;
    }
    conn.close().map_err(|(_, e)| Error::from(e))?;
    Ok((settings, copied))
}
