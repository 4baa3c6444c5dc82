//! The connections of a handle, and what keeps them valid across `fork`.
//!
//! A handle keeps up to [`MAX_CONNECTIONS`] connections to `cache.db`, each
//! behind a lock of its own: an operation takes the first one whose lock is
//! free (two atomic operations), so a thread that has the handle to itself
//! always gets the same one, and a new connection is opened, on the calling
//! thread, only when every one is in use. Opening on the caller means a
//! failure is the caller's at once, with its cause (out of file
//! descriptors, say), and that no other thread ever holds a connection
//! half-made when the process forks.
//!
//! A SQLite connection must never be used by two processes. The handle
//! remembers the process that opened its connections; when a call comes
//! from another process (a child after `fork`), the inherited connections
//! are closed without a checkpoint where they are idle, or kept aside until
//! they are (see [`crate::fork`]), and new ones are opened.

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parking_lot::RawMutex;
use parking_lot::lock_api::ArcMutexGuard;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::busy;
use crate::error::{Error, Result};
use crate::fork::{self, Lend};
use crate::watch::Watch;

/// One connection, and the lock that lends it.
type Slot = Arc<parking_lot::Mutex<Connection>>;

/// A connection lent for one operation (or one transaction).
pub(crate) struct Conn {
    guard: ArcMutexGuard<RawMutex, Connection>,
    /// The process it was lent in.
    pid: u32,
    /// Counted until the connection is back (so declared after it).
    _lend: Lend,
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.guard
    }
}

impl Conn {
    /// Whether this connection was lent in another process (this is a
    /// child after `fork`): it must not be used here.
    pub(crate) fn inherited(&self) -> bool {
        self.pid != std::process::id()
    }
}

/// The most connections one cache handle keeps open.
const MAX_CONNECTIONS: usize = 32;
/// The shortest wait for a connection when every one is in use.
const MIN_CONNECT_WAIT: Duration = Duration::from_secs(5);

/// Prepares a new connection: busy handler, per-connection pragmas and a
/// statement cache large enough for every statement the cache uses.
pub(crate) fn configure(conn: &Connection, pragmas: &str) -> rusqlite::Result<()> {
    conn.busy_handler(Some(busy::handler))?;
    conn.execute_batch(pragmas)?;
    // After the pragmas: `wal_autocheckpoint` replaces any WAL hook.
    conn.wal_hook(Some(crate::checkpoint::wal_hook));
    // A first read opens the WAL index, which the connection then keeps
    // open (and with it the lock that keeps other processes from
    // truncating the file) until it closes; the read memo relies on it.
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
    conn.set_prepared_statement_cache_capacity(96);
    Ok(())
}

/// Makes `conn` close without checkpointing (and so without deleting the
/// log): for a connection inherited across `fork`, whose files the parent
/// still uses.
fn close_quietly(conn: &Connection) {
    let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
}

/// The connections of one process.
struct State {
    pid: u32,
    /// The file the connections open (its inode when they were made).
    file: Option<FileId>,
    slots: Vec<Slot>,
}

/// The connections of one handle to one `cache.db`, remade after `fork`.
pub(crate) struct Connections {
    db: PathBuf,
    pragmas: String,
    timeout: Duration,
    state: Arc<RwLock<State>>,
    /// Bumped by every [`reset`](Self::reset), after which this process may
    /// have had no connection open between two calls, and when a child
    /// process after `fork` makes its own.
    generation: AtomicU64,
    /// The file `db` named when the connections were made (see
    /// [`follow_file`](Self::follow_file)).
    file: Mutex<Option<FileId>>,
    /// Tells whether `db` may have changed since the last look.
    watch: Watch,
}

/// A file's device and inode number.
type FileId = (u64, u64);

/// The file `path` names now; `None` when there is none (or, off Unix,
/// always).
fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Every handle's connections in this process, for a child after `fork`
/// to close what it inherited before it opens anything.
static REGISTRY: Mutex<Vec<std::sync::Weak<RwLock<State>>>> = Mutex::new(Vec::new());
/// Inherited connections still in use (by a transaction the forking
/// thread had begun, or by a thread that no longer exists), by file.
static INHERITED: Mutex<Vec<(Option<FileId>, Slot)>> = Mutex::new(Vec::new());
/// Whether `INHERITED` may hold anything (checked on every slow call).
static ANY_INHERITED: AtomicBool = AtomicBool::new(false);

/// In a child after `fork`: takes every connection the parent made out of
/// use and closes those that are idle (see [`release_inherited`]).
fn adopt_after_fork(pid: u32) {
    let states: Vec<_> = {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|w| w.strong_count() > 0);
        registry
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    };
    let mut inherited = INHERITED.lock().unwrap_or_else(|e| e.into_inner());
    for state in states {
        let mut state = state.write().unwrap_or_else(|e| e.into_inner());
        if state.pid == pid {
            continue;
        }
        let file = state.file;
        inherited.extend(state.slots.drain(..).map(|slot| (file, slot)));
        state.pid = pid;
    }
    ANY_INHERITED.store(!inherited.is_empty(), Ordering::SeqCst);
    drop(inherited);
    release_inherited();
}

/// Closes the inherited connections no one uses any more, without a
/// checkpoint.
pub(crate) fn release_inherited() {
    if !ANY_INHERITED.load(Ordering::SeqCst) {
        return;
    }
    let mut inherited = INHERITED.lock().unwrap_or_else(|e| e.into_inner());
    inherited.retain(|(_, slot)| {
        let Some(guard) = slot.try_lock() else {
            return true;
        };
        close_quietly(&guard);
        // Closed when the last reference (this list's) goes.
        false
    });
    ANY_INHERITED.store(!inherited.is_empty(), Ordering::SeqCst);
}

/// Whether a connection inherited across `fork` to the file `file` is
/// still open here (a new one would share its lock bookkeeping).
fn inherited_open(file: Option<FileId>) -> bool {
    if !ANY_INHERITED.load(Ordering::SeqCst) {
        return false;
    }
    release_inherited();
    let inherited = INHERITED.lock().unwrap_or_else(|e| e.into_inner());
    file.is_some() && inherited.iter().any(|(f, _)| *f == file)
}

impl Connections {
    pub(crate) fn new(db: PathBuf, pragmas: String, timeout: Duration) -> Self {
        fork::install();
        let file = file_id(&db);
        let state = Arc::new(RwLock::new(State {
            pid: std::process::id(),
            file,
            slots: Vec::new(),
        }));
        {
            let _lend = Lend::new();
            let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            registry.retain(|w| w.strong_count() > 0);
            registry.push(Arc::downgrade(&state));
        }
        Connections {
            file: Mutex::new(file),
            watch: Watch::new(db.parent().unwrap_or(Path::new("."))),
            db,
            pragmas,
            timeout,
            state,
            generation: AtomicU64::new(0),
        }
    }

    /// How many times [`reset`](Self::reset) has run.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Lends a connection made by this process: the first one free, else a
    /// new one, else (all [`MAX_CONNECTIONS`] in use) the first to come
    /// free within the handle's timeout (at least [`MIN_CONNECT_WAIT`]).
    pub(crate) fn get(&self) -> Result<Conn> {
        let lend = Lend::new();
        let pid = std::process::id();
        let lent = |guard, lend| Conn {
            guard,
            pid,
            _lend: lend,
        };
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.pid == pid {
                if let Some(guard) = state.slots.iter().find_map(|s| s.try_lock_arc()) {
                    return Ok(lent(guard, lend));
                }
            }
        }
        // After a fork, close what the parent left first.
        if self.state.read().unwrap_or_else(|e| e.into_inner()).pid != pid {
            adopt_after_fork(pid);
        }
        if inherited_open(file_id(&self.db)) {
            return Err(Error::ForkedTransaction);
        }
        let busy = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            (state.slots.len() >= MAX_CONNECTIONS).then(|| {
                let i = (pid as usize).wrapping_add(thread_number()) % state.slots.len();
                Arc::clone(&state.slots[i])
            })
        };
        let guard = match busy {
            Some(slot) => self.wait_for(&slot)?,
            None => {
                let slot = Arc::new(parking_lot::Mutex::new(self.open_one()?));
                let guard = slot.lock_arc();
                let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
                if state.slots.is_empty() {
                    state.file = file_id(&self.db);
                }
                state.slots.push(slot);
                guard
            }
        };
        Ok(lent(guard, lend))
    }

    /// Waits for `slot` to come free, as long as the handle's timeout (at
    /// least [`MIN_CONNECT_WAIT`]; `Duration::MAX` waits without end).
    fn wait_for(&self, slot: &Slot) -> Result<ArcMutexGuard<RawMutex, Connection>> {
        let wait = self.timeout.max(MIN_CONNECT_WAIT);
        if Instant::now().checked_add(wait).is_none() {
            return Ok(slot.lock_arc());
        }
        slot.try_lock_arc_for(wait).ok_or_else(|| Error::Connect {
            message: format!(
                "all {MAX_CONNECTIONS} connections of the handle stayed in use for {wait:?}"
            ),
        })
    }

    /// Opens a connection on this thread. The pool never creates
    /// `cache.db` (only opening the cache makes it, with its tables); a
    /// failure the OS explains (the directory gone, too many open files)
    /// is an I/O error with that cause.
    fn open_one(&self) -> Result<Connection> {
        self.vanished()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = Connection::open_with_flags(&self.db, flags)
            .and_then(|conn| configure(&conn, &self.pragmas).map(|()| conn));
        opened.map_err(|e| {
            // SQLite's error does not carry the OS error; opening the
            // directory (which holds no lock to lose on close) tells
            // whether the process or system is out of descriptors.
            match self.db.parent().map(std::fs::File::open) {
                Some(Err(os)) => Error::io(&self.db, os),
                _ => Error::from(e),
            }
        })
    }

    /// An I/O error when `cache.db` or its directory is gone.
    fn vanished(&self) -> Result<()> {
        if self.db.is_file() {
            return Ok(());
        }
        let (path, what) = match self.db.parent() {
            Some(dir) if !dir.is_dir() => (dir, "the cache directory is gone"),
            _ => (self.db.as_path(), "the cache database is gone"),
        };
        let gone = io::Error::new(io::ErrorKind::NotFound, what);
        Err(Error::io(path, gone))
    }

    /// Whether `cache.db` is still the file these connections opened. A
    /// connection keeps working on a file that was removed (or renamed
    /// away, and another put in its place): its reads would go on seeing
    /// the old entries and its writes would reach nobody. So when the file
    /// changed, the connections are dropped (the next call opens whatever
    /// is there now), and the change is returned as the error a write
    /// begun on the old file fails with.
    pub(crate) fn follow_file(&self) -> Result<()> {
        let now = file_id(&self.db);
        {
            let mut known = self.file.lock().unwrap_or_else(|e| e.into_inner());
            if *known == now {
                return Ok(());
            }
            *known = now;
        }
        self.reset();
        let what = match now {
            None => "removed while the cache was open",
            Some(_) => "replaced by another file while the cache was open",
        };
        Err(Error::io(
            &self.db,
            io::Error::new(io::ErrorKind::NotFound, what),
        ))
    }

    /// [`follow_file`](Self::follow_file) for a write, inside its
    /// transaction: by `stat` only when the directory's watch says that
    /// `cache.db` may have changed (see [`crate::watch`]).
    pub(crate) fn follow_file_for_write(&self) -> Result<()> {
        if self.watch.may_have_changed() {
            self.follow_file()
        } else {
            Ok(())
        }
    }

    /// Drops the connections: idle ones close now, lent ones when they are
    /// returned.
    pub(crate) fn reset(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.pid == std::process::id() {
            state.slots.clear();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A number for this thread, to spread waiters over the connections.
fn thread_number() -> usize {
    thread_local! {
        static NUMBER: usize = {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            NEXT.fetch_add(1, Ordering::Relaxed)
        };
    }
    NUMBER.with(|n| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections to a new, empty `cache.db` in `dir` (the pool opens
    /// only a file that is there).
    fn connections(dir: &std::path::Path) -> Result<Connections> {
        let db = dir.join("cache.db");
        Connection::open(&db)?;
        Ok(Connections::new(db, String::new(), Duration::from_secs(5)))
    }

    /// The address of the connection lent, to tell connections apart.
    fn address(conn: &Conn) -> usize {
        std::ptr::from_ref::<Connection>(conn) as usize
    }

    #[test]
    fn the_first_free_connection_is_lent_and_a_new_one_only_when_all_are_in_use() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
        let conns = connections(dir.path())?;
        let first = conns.get()?;
        let kept = address(&first);
        first.execute_batch("CREATE TABLE t (x)")?;
        // While it is lent, another is opened, on the same file.
        let second = conns.get()?;
        assert_ne!(address(&second), kept);
        second.execute("INSERT INTO t VALUES (1)", [])?;
        drop(second);
        let other_thread = std::thread::scope(|s| {
            s.spawn(|| -> Result<usize> { Ok(address(&conns.get()?)) })
                .join()
                .unwrap_or(Ok(0))
        })?;
        assert!(other_thread != 0 && other_thread != kept);
        drop(first);
        // Both free: the first one again, and no third was opened.
        let again = conns.get()?;
        assert_eq!(address(&again), kept);
        assert_eq!(conns.state.read().map(|s| s.slots.len()).unwrap_or(0), 2);
        let n: i64 = again.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn reset_drops_the_connections_and_a_lent_one_stays_usable() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
        let conns = connections(dir.path())?;
        conns.get()?.execute_batch("PRAGMA user_version = 7")?;
        let lent = conns.get()?;
        let generation = conns.generation();
        conns.reset();
        assert_eq!(conns.generation(), generation + 1);
        // The connection lent before the reset stays usable until dropped.
        let v: i64 = lent.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, 7);
        let after = conns.get()?;
        assert_ne!(address(&after), address(&lent));
        drop(lent);
        assert_eq!(conns.state.read().map(|s| s.slots.len()).unwrap_or(0), 1);
        Ok(())
    }
}
