//! The connection pool, and what keeps it valid across `fork`.
//!
//! A SQLite connection must never be used by two processes: a child created
//! by `fork` that touched its parent's connections could corrupt locks and
//! the WAL index. Each pool remembers the process that made it; when a call
//! comes from another process, the inherited pool is leaked (never closed,
//! since closing would act on the parent's files) and a fresh one is made.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use scheduled_thread_pool::ScheduledThreadPool;

use crate::busy;
use crate::error::Result;

/// A connection checked out of the pool.
pub(crate) type Conn = r2d2::PooledConnection<SqliteConnectionManager>;

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
    conn.set_prepared_statement_cache_capacity(96);
    Ok(())
}

/// A pool of connections to one `cache.db`, remade after `fork`.
pub(crate) struct Connections {
    db: PathBuf,
    pragmas: String,
    timeout: Duration,
    state: RwLock<(u32, r2d2::Pool<SqliteConnectionManager>)>,
}

impl Connections {
    pub(crate) fn new(db: PathBuf, pragmas: String, timeout: Duration) -> Self {
        let pool = build(&db, &pragmas, timeout);
        Connections {
            db,
            pragmas,
            timeout,
            state: RwLock::new((std::process::id(), pool)),
        }
    }

    /// Checks out a connection made by this process.
    pub(crate) fn get(&self) -> Result<Conn> {
        let pid = std::process::id();
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.0 == pid {
                let pool = state.1.clone();
                drop(state);
                return Ok(pool.get()?);
            }
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.0 != pid {
            let inherited =
                std::mem::replace(&mut state.1, build(&self.db, &self.pragmas, self.timeout));
            std::mem::forget(inherited);
            state.0 = pid;
        }
        let pool = state.1.clone();
        drop(state);
        Ok(pool.get()?)
    }

    /// Drops the idle connections by replacing the pool (checked-out ones
    /// close when they are returned).
    pub(crate) fn reset(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.0 == std::process::id() {
            state.1 = build(&self.db, &self.pragmas, self.timeout);
        }
    }
}

fn build(db: &PathBuf, pragmas: &str, timeout: Duration) -> r2d2::Pool<SqliteConnectionManager> {
    let pragmas = pragmas.to_owned();
    let manager = SqliteConnectionManager::file(db).with_init(move |c| configure(c, &pragmas));
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
