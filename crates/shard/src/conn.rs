//! The connection pool, and what keeps it valid across `fork`.
//!
//! A SQLite connection must never be used by two processes: a child created
//! by `fork` that touched its parent's connections could corrupt locks and
//! the WAL index. Each pool remembers the process that made it; when a call
//! comes from another process, the inherited pool is leaked (never closed,
//! since closing would act on the parent's files) and a fresh one is made.
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
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use parking_lot::RawMutex;
use parking_lot::lock_api::ArcMutexGuard;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use scheduled_thread_pool::ScheduledThreadPool;

use crate::busy;
use crate::error::{Error, Result};

/// A connection checked out of the pool.
type Pooled = r2d2::PooledConnection<SqliteConnectionManager>;

/// The connection a handle keeps checked out, and the lock that lends it.
type Kept = Arc<parking_lot::Mutex<Pooled>>;

/// A connection lent for one operation (or one transaction).
pub(crate) enum Conn {
    /// The handle's kept connection, locked until this is dropped.
    Kept(ArcMutexGuard<RawMutex, Pooled>),
    /// One from the pool, returned to it when this is dropped.
    Pooled(Box<Pooled>),
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Conn::Kept(guard) => guard,
            Conn::Pooled(conn) => conn,
        }
    }
}

/// The most connections one cache handle keeps open.
const MAX_CONNECTIONS: u32 = 32;

/// The thread that opens connections for every pool of this process.
static OPENER: Mutex<Option<(u32, Arc<ScheduledThreadPool>)>> = Mutex::new(None);

fn opener() -> Arc<ScheduledThreadPool> {
    let pid = std::process::id();
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

/// The pool of one process, and the connection its handle keeps.
struct State {
    pid: u32,
    pool: r2d2::Pool<SqliteConnectionManager>,
    /// Checked out by the first call; `None` until then.
    kept: Option<Kept>,
}

/// A pool of connections to one `cache.db`, remade after `fork`.
pub(crate) struct Connections {
    db: PathBuf,
    pragmas: String,
    timeout: Duration,
    state: RwLock<State>,
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
fn file_id(path: &std::path::Path) -> Option<FileId> {
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

impl Connections {
    pub(crate) fn new(db: PathBuf, pragmas: String, timeout: Duration) -> Self {
        let pool = build(&db, &pragmas, timeout);
        Connections {
            file: Mutex::new(file_id(&db)),
            db,
            pragmas,
            timeout,
            state: RwLock::new(State {
                pid: std::process::id(),
                pool,
                kept: None,
            }),
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
        let pid = std::process::id();
        let pool = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            match &state.kept {
                Some(kept) if state.pid == pid => match kept.try_lock_arc() {
                    Some(guard) => return Ok(Conn::Kept(guard)),
                    None => Some(state.pool.clone()),
                },
                _ => None,
            }
        };
        // Wait for the pool without holding the state's lock.
        if let Some(pool) = pool {
            return Ok(Conn::Pooled(Box::new(self.checkout(&pool)?)));
        }
        // The first call of this process (or since a reset): make the
        // pool anew after a fork, and check out the connection to keep.
        let (pool, kept) = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            if state.pid != pid {
                let fresh = State {
                    pid,
                    pool: build(&self.db, &self.pragmas, self.timeout),
                    kept: None,
                };
                // Inherited across fork: never closed here.
                std::mem::forget(std::mem::replace(&mut *state, fresh));
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            let kept = match &state.kept {
                Some(kept) => Arc::clone(kept),
                None => {
                    let kept = Arc::new(parking_lot::Mutex::new(self.checkout(&state.pool)?));
                    state.kept = Some(Arc::clone(&kept));
                    kept
                }
            };
            (state.pool.clone(), kept)
        };
        match kept.try_lock_arc() {
            Some(guard) => Ok(Conn::Kept(guard)),
            None => Ok(Conn::Pooled(Box::new(self.checkout(&pool)?))),
        }
    }

    /// A connection from `pool`: an idle one at once; else one the pool
    /// opens, once `cache.db` is known to be there. (r2d2 retries an open
    /// that fails until its timeout, a minute by default, so a directory
    /// removed while the cache is open would otherwise make every call that
    /// needs a new connection hang that long before failing. The pool opens
    /// without SQLite's create flag: only opening the cache makes
    /// `cache.db`, with its tables.)
    fn checkout(&self, pool: &r2d2::Pool<SqliteConnectionManager>) -> Result<Pooled> {
        if let Some(conn) = pool.try_get() {
            return Ok(conn);
        }
        if !self.db.is_file() {
            let (path, what) = match self.db.parent() {
                Some(dir) if !dir.is_dir() => (dir, "the cache directory is gone"),
                _ => (self.db.as_path(), "the cache database is gone"),
            };
            let gone = io::Error::new(io::ErrorKind::NotFound, what);
            return Err(Error::io(path, gone));
        }
        Ok(pool.get()?)
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
            state.pool = build(&self.db, &self.pragmas, self.timeout);
            state.kept = None;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn build(db: &PathBuf, pragmas: &str, timeout: Duration) -> r2d2::Pool<SqliteConnectionManager> {
    let pragmas = pragmas.to_owned();
    // Never created here (see `Connections::checkout`).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let manager = SqliteConnectionManager::file(db)
        .with_flags(flags)
        .with_init(move |c| configure(c, &pragmas));
    r2d2::Pool::builder()
        .max_size(MAX_CONNECTIONS)
        .min_idle(Some(0))
        .test_on_check_out(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connection_timeout(timeout.max(Duration::from_secs(5)))
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
        assert!(matches!(first, Conn::Kept(_)));
        first.execute_batch("CREATE TABLE t (x)")?;
        // While it is lent, others come from the pool and see the same file.
        let second = conns.get()?;
        assert!(matches!(second, Conn::Pooled(_)));
        second.execute("INSERT INTO t VALUES (1)", [])?;
        let other_thread = std::thread::scope(|s| {
            s.spawn(|| -> Result<bool> { Ok(matches!(conns.get()?, Conn::Pooled(_))) })
                .join()
                .unwrap_or(Ok(false))
        })?;
        assert!(other_thread, "another thread was lent the kept connection");
        drop(first);
        drop(second);
        let again = conns.get()?;
        assert!(matches!(again, Conn::Kept(_)));
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
        assert!(matches!(after, Conn::Kept(_)), "no new kept connection");
        drop(lent);
        Ok(())
    }
}
