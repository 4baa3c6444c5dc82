//! The connection pool, and what keeps it valid across `fork`.
//!
//! A SQLite connection must never be used by two processes. Each pool
//! remembers the process that made it; when a call comes from another
//! process (a child after `fork`), the inherited connections are closed
//! without a checkpoint where they are idle, or kept aside until they are
//! (see [`crate::fork`]), and a fresh pool is made.
//!
//! Connections come from an r2d2 pool. One of them the handle keeps checked
//! out, behind a lock of its own: an operation that finds that lock free
//! uses it, and the others take one from the pool. A checkout from the
//! pool and its return cost about 0.2 µs (a mutex, a condition variable and
//! four clock reads), a tenth of a cached read; taking the kept connection
//! costs two atomic operations, so a thread that has the handle to itself
//! never pays for the pool.

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parking_lot::RawMutex;
use parking_lot::lock_api::ArcMutexGuard;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use scheduled_thread_pool::ScheduledThreadPool;

use crate::busy;
use crate::error::{Error, Result};
use crate::fork::{self, Lend};

/// A connection checked out of the pool.
type Pooled = r2d2::PooledConnection<Manager>;
type Pool = r2d2::Pool<Manager>;

/// The connection a handle keeps checked out, and the lock that lends it.
type Kept = Arc<parking_lot::Mutex<Pooled>>;

/// A connection lent for one operation (or one transaction).
pub(crate) struct Conn {
    conn: Lent,
    /// The process it was lent in.
    pid: u32,
    /// Counted until the connection is back (so declared after it).
    _lend: Lend,
}

enum Lent {
    /// The handle's kept connection, locked until this is dropped.
    Kept(ArcMutexGuard<RawMutex, Pooled>),
    /// One from the pool, returned to it when this is dropped.
    Pooled(Box<Pooled>),
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match &self.conn {
            Lent::Kept(guard) => guard,
            Lent::Pooled(conn) => conn,
        }
    }
}

impl Conn {
    /// Whether this connection was lent in another process (this is a
    /// child after `fork`): it must not be used here.
    pub(crate) fn inherited(&self) -> bool {
        self.pid != std::process::id()
    }

    #[cfg(test)]
    fn is_kept(&self) -> bool {
        matches!(self.conn, Lent::Kept(_))
    }
}

/// The most connections one cache handle keeps open.
const MAX_CONNECTIONS: u32 = 32;
/// How long one wait of the pool lasts before the caller looks at why no
/// connection came (see [`Connections::checkout`]).
const POOL_SLICE: Duration = Duration::from_millis(50);

/// The thread that opens connections for every pool of this process.
static OPENER: Mutex<Option<(u32, Arc<ScheduledThreadPool>)>> = Mutex::new(None);

fn opener() -> Arc<ScheduledThreadPool> {
    let pid = std::process::id();
    let _lend = Lend::new();
    let mut slot = OPENER.lock().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        Some((owner, pool)) if *owner == pid => Arc::clone(pool),
        _ => {
            let pool = Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("diskcache-connect-{}")
                    .build(),
            );
            if let Some(old) = slot.replace((pid, Arc::clone(&pool))) {
                // Inherited across fork: its thread does not exist here.
                std::mem::forget(old);
            }
            pool
        }
    }
}

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

/// Opens connections for the pool, counted as lends (a fork waits for an
/// open in progress), and remembers why the last open failed.
#[derive(Debug)]
pub(crate) struct Manager {
    inner: SqliteConnectionManager,
    dir: PathBuf,
    /// The last failure to open, seen by the OS: too many open files, say.
    failed: Failed,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> rusqlite::Result<Connection> {
        let _lend = Lend::new();
        let opened = self.inner.connect();
        if opened.is_err() {
            // SQLite's error does not carry the OS error; opening the
            // directory (which holds no lock to lose on close) tells
            // whether the process or system is out of descriptors.
            if let Err(e) = std::fs::File::open(&self.dir) {
                let seen = (Instant::now(), e.kind(), e.raw_os_error());
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
            }
        }
        opened
    }

    fn is_valid(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        self.inner.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// The last time the OS refused the pool an open (too many open files,
/// say), and what it said.
type Failed = Arc<Mutex<Option<(Instant, io::ErrorKind, Option<i32>)>>>;

/// The pool of one process, and the connection its handle keeps.
struct State {
    pid: u32,
    /// The file the pool's connections open (its inode when made).
    file: Option<FileId>,
    /// `None` in a child after `fork` until its first call makes one.
    pool: Option<Pool>,
    /// Checked out by the first call; `None` until then.
    kept: Option<Kept>,
}

/// A pool of connections to one `cache.db`, remade after `fork`.
pub(crate) struct Connections {
    db: PathBuf,
    pragmas: String,
    timeout: Duration,
    state: Arc<RwLock<State>>,
    /// Why the pool's last open failed.
    failed: Failed,
    /// Bumped by every [`reset`](Self::reset), after which this process may
    /// have had no connection open between two calls, and when a child
    /// process after `fork` makes its own pool.
    generation: AtomicU64,
    /// The file `db` named when the connections were made (see
    /// [`follow_file`](Self::follow_file)).
    file: Mutex<Option<FileId>>,
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

/// Every pool of this process, for a child after `fork` to close what it
/// inherited before it opens anything.
static REGISTRY: Mutex<Vec<std::sync::Weak<RwLock<State>>>> = Mutex::new(Vec::new());
/// Inherited connections that could not be closed yet, by file.
static INHERITED: Mutex<Vec<Inherited>> = Mutex::new(Vec::new());

/// A parent's pool in a child after `fork`: the file its connections
/// opened, the pool, and the connection its handle kept.
type Inherited = (Option<FileId>, Option<Pool>, Option<Kept>);
/// Whether `INHERITED` may hold anything (checked on every call).
static ANY_INHERITED: AtomicBool = AtomicBool::new(false);

/// In a child after `fork`: takes every pool the parent made out of use and
/// closes what can be closed (see [`release_inherited`]).
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
        inherited.push((file, state.pool.take(), state.kept.take()));
        state.pid = pid;
    }
    ANY_INHERITED.store(!inherited.is_empty(), Ordering::SeqCst);
    drop(inherited);
    release_inherited();
}

/// Closes the inherited connections that are idle, without a checkpoint;
/// a pool whose connections are all closed is forgotten.
pub(crate) fn release_inherited() {
    if !ANY_INHERITED.load(Ordering::SeqCst) {
        return;
    }
    let mut inherited = INHERITED.lock().unwrap_or_else(|e| e.into_inner());
    inherited.retain_mut(|(_, pool, kept)| {
        if let Some(k) = kept.take() {
            let idle = match k.try_lock() {
                Some(guard) => {
                    close_quietly(&guard);
                    true
                }
                None => false,
            };
            if !idle {
                *kept = Some(k);
            }
        }
        if let Some(p) = pool.as_ref() {
            let mut idle = Vec::new();
            while let Some(conn) = p.try_get() {
                close_quietly(&conn);
                idle.push(conn);
            }
            drop(idle);
            let state = p.state();
            if kept.is_none() && state.connections == state.idle_connections {
                // Dropping the pool closes its idle connections.
                *pool = None;
            }
        }
        pool.is_some() || kept.is_some()
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
    file.is_some() && inherited.iter().any(|(f, ..)| *f == file)
}

impl Connections {
    pub(crate) fn new(db: PathBuf, pragmas: String, timeout: Duration) -> Self {
        fork::install();
        let failed = Arc::default();
        let pool = build(&db, &pragmas, &failed);
        let file = file_id(&db);
        let state = Arc::new(RwLock::new(State {
            pid: std::process::id(),
            file,
            pool: Some(pool),
            kept: None,
        }));
        {
            let _lend = Lend::new();
            let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            registry.retain(|w| w.strong_count() > 0);
            registry.push(Arc::downgrade(&state));
        }
        Connections {
            file: Mutex::new(file),
            db,
            pragmas,
            timeout,
            state,
            failed,
            generation: AtomicU64::new(0),
        }
    }

    /// How many times [`reset`](Self::reset) has run.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Lends a connection made by this process: the kept one when it is
    /// free, else one from the pool.
    pub(crate) fn get(&self) -> Result<Conn> {
        let lend = Lend::new();
        let pid = std::process::id();
        let lent = |conn: Lent, lend: Lend| Conn {
            conn,
            pid,
            _lend: lend,
        };
        let pool = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            match (&state.kept, &state.pool) {
                (Some(kept), Some(pool)) if state.pid == pid => match kept.try_lock_arc() {
                    Some(guard) => return Ok(lent(Lent::Kept(guard), lend)),
                    None => Some(pool.clone()),
                },
                _ => None,
            }
        };
        // Wait for the pool without holding the state's lock.
        if let Some(pool) = pool {
            let conn = self.checkout(&pool)?;
            return Ok(lent(Lent::Pooled(Box::new(conn)), lend));
        }
        // The first call of this process (or since a reset): after a fork,
        // close what the parent left and make the pool anew; check out the
        // connection to keep.
        if self.state.read().unwrap_or_else(|e| e.into_inner()).pid != pid {
            adopt_after_fork(pid);
        }
        if inherited_open(file_id(&self.db)) {
            return Err(Error::ForkedTransaction);
        }
        let (pool, kept) = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            if state.pool.is_none() {
                state.pool = Some(build(&self.db, &self.pragmas, &self.failed));
                state.file = file_id(&self.db);
                state.kept = None;
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            let Some(pool) = state.pool.clone() else {
                return Err(Error::ForkedTransaction);
            };
            let kept = match &state.kept {
                Some(kept) => Arc::clone(kept),
                None => {
                    let kept = Arc::new(parking_lot::Mutex::new(self.checkout(&pool)?));
                    state.kept = Some(Arc::clone(&kept));
                    kept
                }
            };
            (pool, kept)
        };
        match kept.try_lock_arc() {
            Some(guard) => Ok(lent(Lent::Kept(guard), lend)),
            None => Ok(lent(Lent::Pooled(Box::new(self.checkout(&pool)?)), lend)),
        }
    }

    /// A connection from `pool`: an idle one at once; else one the pool
    /// opens, once `cache.db` is known to be there. (r2d2 retries an open
    /// that fails until its timeout, so a directory removed while the
    /// cache is open, or a process out of file descriptors, would make
    /// every call that needs a new connection hang that long before
    /// failing. So the pool is waited for in short slices, and an open
    /// that failed for a reason the OS gives ends the wait with that
    /// error. The pool opens without SQLite's create flag: only opening
    /// the cache makes `cache.db`, with its tables.)
    fn checkout(&self, pool: &Pool) -> Result<Pooled> {
        if let Some(conn) = pool.try_get() {
            return Ok(conn);
        }
        let started = Instant::now();
        let wait = self.timeout.max(Duration::from_secs(5));
        loop {
            self.vanished()?;
            let slice = wait.saturating_sub(started.elapsed()).min(POOL_SLICE);
            match pool.get_timeout(slice) {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    let failed = *self.failed.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some((_, kind, code)) = failed.filter(|(at, ..)| *at >= started) {
                        let os = match code {
                            Some(code) => io::Error::from_raw_os_error(code),
                            None => io::Error::new(kind, "cannot open another connection"),
                        };
                        return Err(Error::io(&self.db, os));
                    }
                    if started.elapsed() >= wait {
                        return Err(e.into());
                    }
                }
            }
        }
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

    /// Drops the idle connections by replacing the pool (checked-out ones,
    /// the kept one among them, close when they are returned).
    pub(crate) fn reset(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.pid == std::process::id() {
            state.pool = Some(build(&self.db, &self.pragmas, &self.failed));
            state.file = file_id(&self.db);
            state.kept = None;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn build(db: &Path, pragmas: &str, failed: &Failed) -> Pool {
    let pragmas = pragmas.to_owned();
    // Never created here (see `Connections::checkout`).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let manager = Manager {
        inner: SqliteConnectionManager::file(db)
            .with_flags(flags)
            .with_init(move |c| configure(c, &pragmas)),
        dir: db.parent().map(Path::to_path_buf).unwrap_or_default(),
        failed: Arc::clone(failed),
    };
    r2d2::Pool::builder()
        .max_size(MAX_CONNECTIONS)
        .min_idle(Some(0))
        .test_on_check_out(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connection_timeout(POOL_SLICE)
        .thread_pool(opener())
        .build_unchecked(manager)
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

    #[test]
    fn the_kept_connection_is_lent_when_free_and_the_pool_serves_the_rest() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
        let conns = connections(dir.path())?;
        let first = conns.get()?;
        assert!(first.is_kept());
        first.execute_batch("CREATE TABLE t (x)")?;
        // While it is lent, others come from the pool and see the same file.
        let second = conns.get()?;
        assert!(!second.is_kept());
        second.execute("INSERT INTO t VALUES (1)", [])?;
        let other_thread = std::thread::scope(|s| {
            s.spawn(|| -> Result<bool> { Ok(!conns.get()?.is_kept()) })
                .join()
                .unwrap_or(Ok(false))
        })?;
        assert!(other_thread, "another thread was lent the kept connection");
        drop(first);
        drop(second);
        let again = conns.get()?;
        assert!(again.is_kept());
        let n: i64 = again.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn reset_replaces_the_kept_connection() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
        let conns = connections(dir.path())?;
        conns.get()?.execute_batch("PRAGMA user_version = 7")?;
        let lent = conns.get()?;
        conns.reset();
        // The connection lent before the reset stays usable until dropped.
        let v: i64 = lent.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, 7);
        let after = conns.get()?;
        assert!(after.is_kept(), "no new kept connection");
        drop(lent);
        Ok(())
    }
}
