//! [`Cache::check`]: verify (and optionally repair) a cache directory.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::files::{self, Found, at, at::Kind};
use crate::recover;
use crate::row::DELETE_ROW;
use crate::txn::TxnState;

/// Orphan files younger than this are left alone by a fix: a writer may
/// have written the file and be waiting for the lock to commit its row.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// One thing [`Cache::check`] found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// SQLite's integrity check reported this line.
    Integrity(String),
    /// A row names a file that does not exist (fix: delete the row).
    MissingFile {
        /// The row's file name.
        filename: String,
    },
    /// A row's file, a regular file, has another size than the row says
    /// (fix: correct the row's size to the file's, as python-diskcache
    /// does; the `size` total in `Settings` follows through the triggers;
    /// a file the cache cannot open for reading loses its row and the
    /// file instead). Until then reads of the entry fail with
    /// [`Error::Corrupt`]; afterwards they return the file's bytes.
    WrongSize {
        /// The row's file name.
        filename: String,
        /// The size in the row.
        recorded: u64,
        /// The file's real size.
        actual: u64,
    },
    /// A row's file name would leave the cache directory or name the
    /// database (fix: delete the row; the named file is never touched).
    UnsafeFilename {
        /// The row's file name.
        filename: String,
    },
    /// A symbolic link where a value folder or a value file belongs; the
    /// cache never follows it (fix: remove the link itself, never what it
    /// points to, and delete the rows that name a file through it).
    SymbolicLink {
        /// The link.
        path: PathBuf,
    },
    /// Something that is not a regular file (a FIFO, a device, a socket, a
    /// folder) where a value file belongs (fix: delete the row, if any,
    /// and remove it).
    NotAFile {
        /// Where the value file belongs.
        path: PathBuf,
        /// What is there instead, in words.
        kind: String,
    },
    /// A value file no row names (fix: delete it, once a minute old).
    OrphanFile {
        /// The file.
        path: PathBuf,
    },
    /// An empty value folder (fix: remove it).
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// `Settings.count` disagrees with the rows (fix: correct it).
    CountMismatch {
        /// The stored count.
        recorded: i64,
        /// The number of rows.
        actual: i64,
    },
    /// `Settings.size` disagrees with the rows' sizes (fix: correct it).
    SizeMismatch {
        /// The stored size.
        recorded: i64,
        /// The sum of the rows' sizes.
        actual: i64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Integrity(line) => write!(f, "database integrity: {line}"),
            Problem::MissingFile { filename } => write!(f, "missing value file {filename}"),
            Problem::WrongSize {
                filename,
                recorded,
                actual,
            } => write!(
                f,
                "value file {filename} has {actual} bytes, its row says {recorded}"
            ),
            Problem::UnsafeFilename { filename } => {
                write!(
                    f,
                    "row names a file outside the value folders: {filename:?}"
                )
            }
            Problem::SymbolicLink { path } => write!(
                f,
                "symbolic link where a value folder or file belongs (never followed): {}",
                path.display()
            ),
            Problem::NotAFile { path, kind } => {
                write!(f, "{} is {kind}, not a regular value file", path.display())
            }
            Problem::OrphanFile { path } => {
                write!(f, "value file no row names: {}", path.display())
            }
            Problem::EmptyFolder { path } => write!(f, "empty value folder {}", path.display()),
            Problem::CountMismatch { recorded, actual } => {
                write!(f, "stored count {recorded}, rows {actual}")
            }
            Problem::SizeMismatch { recorded, actual } => {
                write!(f, "stored size {recorded}, sum of the rows' sizes {actual}")
            }
        }
    }
}

/// How [`Cache::check`] with `fix` repaired damage inside `cache.db`
/// itself (what SQLite's integrity check reported as
/// [`Problem::Integrity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseRepair {
    /// `VACUUM` rebuilt the database, after which the integrity check
    /// passed. Nothing was lost.
    Vacuumed,
    /// `VACUUM` could not repair it (it failed, or the integrity check
    /// still failed afterwards): every row of `Cache` and `Settings` that
    /// could be read was copied into a new database with the cache's
    /// schema, which replaced `cache.db`; the damaged file was kept.
    /// Values of rows that could not be read are left as orphan files,
    /// which a later fix sweeps.
    Recovered {
        /// `Cache` rows (entries) copied into the new database.
        rows: u64,
        /// How many entries the damaged database's `count` recorded, if
        /// that could be read.
        recorded: Option<u64>,
        /// `Settings` rows read from the damaged database (settings that
        /// could not be read or parsed are the handle's).
        settings: u64,
        /// Where the damaged file was kept, beside the new `cache.db`.
        damaged: PathBuf,
    },
}

impl std::fmt::Display for DatabaseRepair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseRepair::Vacuumed => f.write_str("damaged, repaired by VACUUM"),
            DatabaseRepair::Recovered {
                rows,
                recorded,
                damaged,
                ..
            } => {
                write!(f, "damaged, {rows} rows recovered into a new database")?;
                if let Some(recorded) = recorded {
                    write!(f, " (its count said {recorded})")?;
                }
                let kept = damaged.file_name().map_or_else(
                    || damaged.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                );
                write!(f, ", damaged copy kept as {kept}")
            }
        }
    }
}

/// What [`Cache::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Every problem found (and, with `fix`, repaired where possible).
    pub problems: Vec<Problem>,
    /// With `fix`: how the damage inside `cache.db` that the
    /// [`Problem::Integrity`] lines describe was repaired; `None` when
    /// there was none (or when the check ran inside
    /// [`Cache::transact`](crate::Cache::transact), where it cannot be
    /// repaired).
    pub database: Option<DatabaseRepair>,
}

impl CheckReport {
    /// True when nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Is `name` a two-hex-digit value folder name?
fn is_value_folder(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Cache {
    /// Verifies the database, the count and size metadata and the value
    /// files; with `fix`, repairs what it can. Runs under the write lock.
    ///
    /// Only value files (`xx/yy/*.val` under two-hex-digit folders) are
    /// ever considered orphans, so other files in the directory are safe.
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.set("big", &vec![1u8; 1 << 16])?;
    /// assert!(cache.check(false)?.is_clean());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn check(&self, fix: bool) -> Result<CheckReport> {
        self.check_with(fix, ORPHAN_GRACE)
    }

    /// [`check`](Cache::check), removing (with `fix`) orphan files at least
    /// `orphan_grace` old. `Duration::ZERO` sweeps every orphan: right when
    /// no writer can be between writing a value file and committing its row,
    /// as after a crash with every writer of the directory stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// assert!(cache.check_with(true, Duration::ZERO)?.is_clean());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn check_with(&self, fix: bool, orphan_grace: Duration) -> Result<CheckReport> {
        let dir = self.inner.dir.clone();
        let mut report = CheckReport::default();
        // Damage inside the database is repaired first: VACUUM cannot run
        // inside a transaction, and the rest of the check needs sound
        // tables.
        let repair_first = fix && !crate::txn::in_transaction(self.inner.id);
        let mut damage = Vec::new();
        if repair_first {
            let (lines, repair) = self.repair_database()?;
            damage = lines;
            report.database = repair;
        }
        self.write(|conn, st| {
            report.problems.clear();
            if repair_first {
                let found = damage.iter().cloned().map(Problem::Integrity);
                report.problems.extend(found);
            } else {
                check_integrity(conn, &mut report)?;
            }
            let named = check_rows(conn, st, &dir, fix, &mut report)?;
            check_files(&dir, &named, fix, orphan_grace, &mut report)?;
            check_metadata(conn, fix, &mut report)?;
            Ok(())
        })?;
        Ok(report)
    }
}

impl Cache {
    /// Runs SQLite's integrity check and, when it reports damage, repairs
    /// it: `VACUUM` first, and where that fails or leaves damage, a
    /// recovery of the readable rows into a new database (see
    /// [`crate::recover`]). Returns the lines the check reported and what
    /// was done. Afterwards the handle's connections are reopened.
    fn repair_database(&self) -> Result<(Vec<String>, Option<DatabaseRepair>)> {
        self.prepare();
        // A `cache.db` replaced since the last call: check the file there now.
        let _ = self.inner.conns.follow_file();
        let conn = self.inner.conns.get()?;
        let lines = recover::integrity(&conn)?;
        if lines.is_empty() {
            return Ok((lines, None));
        }
        let vacuumed = match conn.execute_batch("VACUUM") {
            Ok(()) => recover::integrity(&conn)?.is_empty(),
            Err(e) if recover::worth_recovering(&e) => false,
            Err(e) => return Err(e.into()),
        };
        drop(conn);
        // Every connection of the handle closes (and its read memo
        // empties); the next call opens new ones.
        self.inner.conns.reset();
        if vacuumed {
            return Ok((lines, Some(DatabaseRepair::Vacuumed)));
        }
        let db = self.inner.dir.join(files::DB_NAME);
        let recovered = recover::recover(&db, &self.settings());
        // The file at the path is another one now: the handle follows it
        // (which drops the connections again, in case one was opened on
        // the damaged file meanwhile).
        let _ = self.inner.conns.follow_file();
        self.inner.conns.reset();
        let recovered = recovered?;
        Ok((
            lines,
            Some(DatabaseRepair::Recovered {
                rows: recovered.rows,
                recorded: recovered.recorded,
                settings: recovered.settings,
                damaged: recovered.damaged,
            }),
        ))
    }
}

fn check_integrity(conn: &Connection, report: &mut CheckReport) -> Result<()> {
    let lines = recover::integrity(conn)?;
    report
        .problems
        .extend(lines.into_iter().map(Problem::Integrity));
    Ok(())
}

/// Checks each row's file; returns the set of files rows name.
fn check_rows(
    conn: &Connection,
    st: &mut TxnState,
    dir: &Path,
    fix: bool,
    report: &mut CheckReport,
) -> Result<HashSet<PathBuf>> {
    let rows: Vec<(i64, String, i64)> = conn
        .prepare("SELECT rowid, filename, size FROM Cache WHERE filename IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut named = HashSet::new();
    let mut links = HashSet::new();
    for (rowid, filename, size) in rows {
        let path = match files::resolve(dir, &filename) {
            Ok(p) => p,
            Err(_) => {
                report.problems.push(Problem::UnsafeFilename { filename });
                if fix {
                    // The row goes; its file name is never acted on.
                    conn.execute(DELETE_ROW, [rowid])?;
                }
                continue;
            }
        };
        match files::inspect(dir, &filename)? {
            Found::File(actual) => {
                let recorded = u64::try_from(size).unwrap_or(0);
                if actual != recorded {
                    report.problems.push(Problem::WrongSize {
                        filename: filename.clone(),
                        recorded,
                        actual,
                    });
                    if fix && !files::readable(dir, &filename) {
                        // A file the cache cannot open (its permissions,
                        // say) holds no value it could ever return.
                        conn.execute(DELETE_ROW, [rowid])?;
                        st.obsolete.push(filename.clone());
                    } else if fix {
                        conn.execute(
                            "UPDATE Cache SET size = ?1 WHERE rowid = ?2",
                            rusqlite::params![i64::try_from(actual).unwrap_or(i64::MAX), rowid],
                        )?;
                    }
                }
            }
            Found::Missing => {
                report.problems.push(Problem::MissingFile {
                    filename: filename.clone(),
                });
                if fix {
                    conn.execute(DELETE_ROW, [rowid])?;
                    st.obsolete.push(filename);
                }
            }
            Found::Link(link) => {
                // The row's value is out of reach: the link is never
                // followed. A link several rows lead through is one problem.
                if links.insert(link.clone()) {
                    report
                        .problems
                        .push(Problem::SymbolicLink { path: link.clone() });
                }
                if fix {
                    conn.execute(DELETE_ROW, [rowid])?;
                    files::remove_link(dir, &link)?;
                }
            }
            Found::Special(kind) => {
                report.problems.push(Problem::NotAFile {
                    path: path.clone(),
                    kind: kind.to_owned(),
                });
                if fix {
                    // Removing it (inside the directory, never through a
                    // link) is left to the commit, as for any deleted row.
                    conn.execute(DELETE_ROW, [rowid])?;
                    st.obsolete.push(filename);
                }
            }
        }
        named.insert(path);
    }
    Ok(named)
}

/// Walks the value folders (`xx/yy/` under two-hex-digit names) through
/// descriptors, never following a link: reports links where a folder or
/// value file belongs, special files, orphans and empty folders.
fn check_files(
    dir: &Path,
    named: &HashSet<PathBuf>,
    fix: bool,
    grace: Duration,
    report: &mut CheckReport,
) -> Result<()> {
    let now = SystemTime::now();
    let root = at::open_root(dir).map_err(|e| Error::io(dir, e))?;
    for (top_name, top) in value_folders(&root, dir, fix, report)? {
        let top_path = dir.join(&top_name);
        for (sub_name, sub) in value_folders(&top, &top_path, fix, report)? {
            let sub_path = top_path.join(&sub_name);
            for (name, kind) in at::list(&sub).map_err(|e| Error::io(&sub_path, e))? {
                let path = sub_path.join(&name);
                if named.contains(&path) || path.extension().is_none_or(|e| e != "val") {
                    continue;
                }
                match kind {
                    Kind::File(_) => {
                        report
                            .problems
                            .push(Problem::OrphanFile { path: path.clone() });
                        let old = fs::symlink_metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|m| now.duration_since(m).ok())
                            .is_some_and(|age| age >= grace);
                        if fix && old {
                            let _ = at::unlink(&sub, &name);
                        }
                    }
                    Kind::Link => {
                        report.problems.push(Problem::SymbolicLink { path });
                        if fix {
                            let _ = at::remove_link(&sub, &name);
                        }
                    }
                    Kind::Special(kind) => {
                        report.problems.push(Problem::NotAFile {
                            path,
                            kind: kind.to_owned(),
                        });
                        if fix {
                            let _ = at::unlink(&sub, &name);
                        }
                    }
                    Kind::Folder => {}
                }
            }
            remove_if_empty(&top, &sub_name, &sub, &sub_path, fix, report);
        }
        remove_if_empty(&root, &top_name, &top, &top_path, fix, report);
    }
    Ok(())
}

/// The two-hex-digit folders directly inside `parent` (at `path`), opened;
/// a link in the place of one is reported (and, with `fix`, removed).
fn value_folders(
    parent: &OwnedFd,
    path: &Path,
    fix: bool,
    report: &mut CheckReport,
) -> Result<Vec<(OsString, OwnedFd)>> {
    let mut out = Vec::new();
    for (name, kind) in at::list(parent).map_err(|e| Error::io(path, e))? {
        if !name.to_str().is_some_and(is_value_folder) {
            continue;
        }
        match kind {
            Kind::Folder => match at::open_folder(parent, &name) {
                Ok(fd) => out.push((name, fd)),
                // Replaced by a link since the listing: reported next time.
                Err(e) if at::refused(&e) || e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path.join(&name), e)),
            },
            Kind::Link => {
                let link = path.join(&name);
                if !report
                    .problems
                    .iter()
                    .any(|p| matches!(p, Problem::SymbolicLink { path } if *path == link))
                {
                    report.problems.push(Problem::SymbolicLink { path: link });
                }
                if fix {
                    let _ = at::remove_link(parent, &name);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reports the folder `name` in `parent` (open as `folder`, at `path`) if
/// it is empty, and with `fix` removes it.
fn remove_if_empty(
    parent: &OwnedFd,
    name: &OsStr,
    folder: &OwnedFd,
    path: &Path,
    fix: bool,
    report: &mut CheckReport,
) {
    let empty = at::list(folder).is_ok_and(|entries| entries.is_empty());
    if empty {
        report.problems.push(Problem::EmptyFolder {
            path: path.to_path_buf(),
        });
        if fix {
            let _ = at::remove_folder(parent, name);
        }
    }
}

fn check_metadata(conn: &Connection, fix: bool, report: &mut CheckReport) -> Result<()> {
    let (count, size): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(size), 0) FROM Cache",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (key, actual) in [("count", count), ("size", size)] {
        let recorded: i64 =
            conn.query_row("SELECT value FROM Settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })?;
        if recorded != actual {
            report.problems.push(if key == "count" {
                Problem::CountMismatch { recorded, actual }
            } else {
                Problem::SizeMismatch { recorded, actual }
            });
            if fix {
                conn.execute(
                    "UPDATE Settings SET value = ?1 WHERE key = ?2",
                    rusqlite::params![actual, key],
                )?;
            }
        }
    }
    Ok(())
}
