//! Transactions: the one write path every mutation takes, and
//! [`Cache::transact`].
//!
//! Every change to `cache.db` (single operations, `transact`, the batched
//! access flush, the flush when a handle drops, maintenance) goes through
//! [`Inner::write_path`], which in this order: lends a connection made by
//! this process (a child after `fork` never uses its parent's), begins
//! (`BEGIN IMMEDIATE`, waiting for the lock), checks that `cache.db` is
//! still the file the connection opened, runs the operation, commits, and
//! tells the commit observers what changed. A guard rolls the transaction
//! back when the operation fails or unwinds, so no connection goes back to
//! the pool inside a transaction.
//!
//! Value files written for a write are recorded as *created* (removed if
//! it rolls back) and files of rows it removed as *obsolete* (removed only
//! after the outermost commit, so a rollback never leaves a row without its
//! file).
//!
//! While [`Cache::transact`] runs on a thread, every operation of the same
//! cache on that thread uses the transaction's connection; nested calls use
//! savepoints.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use rusqlite::Connection;

use crate::busy;
use crate::cache::{Cache, Inner, now};
use crate::commit::{Commit, CommitObserver};
use crate::conn::{self, Conn};
use crate::error::{Error, Result};
use crate::files;
use crate::fork;
use crate::headroom;
use crate::memo::{Changes, Header};

/// Files touched by a transaction.
#[derive(Default)]
pub(crate) struct TxnState {
    /// Files of removed rows: deleted after the outermost commit.
    pub(crate) obsolete: Vec<String>,
    /// Files written for new rows: deleted if the transaction rolls back.
    pub(crate) created: Vec<String>,
    /// What it changed, for the read memo.
    pub(crate) memo: Changes,
    /// The WAL-index header when it began (once the write lock was held).
    pub(crate) before: Option<Header>,
    /// What its culls found, for the next write's ([`crate::headroom`]).
    pub(crate) headroom: headroom::Txn,
}

impl TxnState {
    fn committed(self, dir: &Path) {
        for name in &self.obsolete {
            files::remove(dir, name);
        }
    }

    fn rolled_back(self, dir: &Path) {
        for name in &self.created {
            files::remove(dir, name);
        }
    }
}

type Shared = (Rc<Conn>, Rc<RefCell<TxnState>>);

struct Active {
    cache: u64,
    conn: Rc<Conn>,
    state: Rc<RefCell<TxnState>>,
    depth: u32,
}

thread_local! {
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
}

/// The transaction this thread holds on cache `id`, if any. One begun in
/// another process (this is a child after `fork` inside `transact`) is an
/// error: the child cannot continue its parent's transaction, and its
/// files' lock bookkeeping is the parent's until it ends.
fn active(id: u64) -> Result<Option<Shared>> {
    let found = ACTIVE.with(|a| {
        let a = a.borrow();
        a.iter()
            .rev()
            .find(|t| t.cache == id)
            .map(|t| (Rc::clone(&t.conn), Rc::clone(&t.state)))
    });
    match found {
        Some((conn, _)) if conn.inherited() => Err(Error::ForkedTransaction),
        found => Ok(found),
    }
}

/// Whether this thread holds a transaction on cache `id`.
pub(crate) fn in_transaction(id: u64) -> bool {
    ACTIVE.with(|a| a.borrow().iter().any(|t| t.cache == id))
}

fn set_depth(id: u64, delta: i32) -> u32 {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        match a.iter_mut().rev().find(|t| t.cache == id) {
            Some(t) => {
                t.depth = t.depth.saturating_add_signed(delta);
                t.depth
            }
            None => 0,
        }
    })
}

fn pop(id: u64) {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(i) = a.iter().rposition(|t| t.cache == id) {
            a.remove(i);
        }
    });
}

/// Runs a statement that returns no rows through the statement cache
/// (`execute_batch` would parse it again on every call).
pub(crate) fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

pub(crate) fn begin(conn: &Connection) -> Result<()> {
    crate::busy::reset();
    exec(conn, "BEGIN IMMEDIATE")
}

pub(crate) fn commit(conn: &Connection) -> Result<()> {
    crate::checkpoint::forget_logged();
    exec(conn, "COMMIT")
}

pub(crate) fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
}

/// Rolls a transaction back unless disarmed: on an error and on unwind.
struct Rollback<'a> {
    dir: &'a Path,
    conn: &'a Conn,
    state: &'a RefCell<TxnState>,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // A connection inherited across `fork` is never touched here: its
        // transaction is the parent's.
        if !self.conn.inherited() {
            rollback(self.conn);
            self.state.take().rolled_back(self.dir);
        }
    }
}

impl Inner {
    /// The one write path (see the module docs): runs `op` inside a new
    /// write transaction, waiting at most `wait` for the write lock, and
    /// after that, with `retry`, again and again.
    pub(crate) fn write_path<T, E: From<Error>>(
        &self,
        wait: Duration,
        retry: bool,
        op: impl FnOnce(&Rc<Conn>, &Rc<RefCell<TxnState>>) -> Result<T, E>,
    ) -> Result<T, E> {
        busy::set_timeout(wait);
        let conn = loop {
            let conn = self.conns.get()?;
            match self.begin(&conn) {
                Ok(()) => break Rc::new(conn),
                Err(e) => {
                    drop(conn);
                    if fork::take_yielded() {
                        // The wait gave way to a fork in another thread.
                        fork::wait_for_fork();
                        continue;
                    }
                    if e.is_timeout() && retry {
                        continue;
                    }
                    return Err(e.into());
                }
            }
        };
        let state = Rc::new(RefCell::new(TxnState::default()));
        let mut guard = Rollback {
            dir: &self.dir,
            conn: &conn,
            state: &state,
            armed: true,
        };
        // Inside the transaction: the file at the path is the one written.
        self.conns.follow_file_for_write()?;
        state.borrow_mut().before = self.memo_header();
        let value = op(&conn, &state)?;
        if conn.inherited() {
            // `fork` inside `transact`: the transaction is the parent's.
            drop(guard);
            drop(conn);
            conn::release_inherited();
            return Err(Error::ForkedTransaction.into());
        }
        commit(&conn)?;
        guard.armed = false;
        let state = state.take();
        self.observe(&conn, &state);
        state.committed(&self.dir);
        Ok(value)
    }

    /// Begins a write transaction on `conn`, telling the checkpointer
    /// whether it had to wait for the lock (whether it then got it or not).
    fn begin(&self, conn: &Connection) -> Result<()> {
        let began = begin(conn);
        self.checkpointer.note_wait();
        began
    }

    /// The WAL-index header, read once the write lock is held.
    fn memo_header(&self) -> Option<Header> {
        self.memo.header(self.conns.generation())
    }

    /// Tells the observers about this handle's commit on `conn`.
    fn observe(&self, conn: &Connection, state: &TxnState) {
        let commit = Commit {
            conn,
            generation: self.conns.generation(),
            state,
            logged: crate::checkpoint::logged(),
            accounted: Cell::new(None),
        };
        let observers: [&dyn CommitObserver; 3] = [&self.memo, &self.headroom, &self.checkpointer];
        for observer in observers {
            observer.committed(&commit);
        }
    }
}

impl Cache {
    /// Runs `f` inside a write transaction on this thread.
    ///
    /// A new transaction is begun when none is active; inside
    /// [`transact`](Cache::transact) the active one is used and `f`'s
    /// changes become part of it.
    pub(crate) fn write<T>(
        &self,
        f: impl FnMut(&Connection, &mut TxnState) -> Result<T>,
    ) -> Result<T> {
        self.write_waiting(self.inner.timeout, self.inner.retry, f)
    }

    /// [`write`](Self::write), waiting at most `wait` for the write lock,
    /// and after that, with `retry`, again and again.
    pub(crate) fn write_waiting<T>(
        &self,
        wait: Duration,
        retry: bool,
        mut f: impl FnMut(&Connection, &mut TxnState) -> Result<T>,
    ) -> Result<T> {
        busy::set_timeout(wait);
        if let Some((conn, state)) = active(self.inner.id)? {
            return op(&conn, &mut state.borrow_mut(), &mut f);
        }
        self.inner.write_path(wait, retry, |conn, state| {
            op(conn, &mut state.borrow_mut(), &mut f)
        })
    }

    /// Runs `f` on a connection: the active transaction's, or a pooled one.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_conn_at(now(), f)
    }

    /// [`with_conn`](Self::with_conn) for a caller that has read the clock
    /// (`now`, seconds since the epoch): outside a transaction, the handle
    /// first follows `cache.db` and rereads its settings when that is due
    /// (see [`refresh`](Self::refresh)).
    pub(crate) fn with_conn_at<T>(
        &self,
        now: f64,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        self.prepare();
        if let Some((conn, _)) = active(self.inner.id)? {
            return f(&conn);
        }
        self.refresh(now)?;
        let conn = self.inner.conns.get()?;
        f(&conn)
    }

    /// Runs `f` as one atomic unit: every operation of this cache that `f`
    /// performs on this thread commits together when `f` returns `Ok`, and
    /// none of them does when it returns `Err` or panics.
    ///
    /// The write lock is held for the whole call, so other writers (threads
    /// and processes) wait; keep `f` short. Calls nest: an inner `transact`
    /// is a savepoint that rolls back on its own when its closure fails.
    ///
    /// A transaction belongs to the process that began it: in a child made
    /// by `fork` inside `f`, calls on this cache fail with
    /// [`Error::ForkedTransaction`] until `f` returns, and so does
    /// `transact` itself (the parent's transaction goes on in the parent).
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().open_temp()?;
    /// cache.transact(|| {
    ///     cache.set("a", &1)?;
    ///     cache.set("b", &2)?;
    ///     Ok::<_, diskcache_shard::Error>(())
    /// })?;
    /// let failed: Result<(), diskcache_shard::Error> = cache.transact(|| {
    ///     cache.set("c", &3)?;
    ///     Err(diskcache_shard::Error::NotFound)
    /// });
    /// assert!(failed.is_err());
    /// assert!(!cache.contains("c")?);
    /// assert_eq!(cache.len()?, 2);
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn transact<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.prepare();
        let id = self.inner.id;
        if let Some((conn, state)) = active(id)? {
            return nested(&self.inner.dir, id, &conn, &state, f);
        }
        self.inner
            .write_path(self.inner.timeout, self.inner.retry, |conn, state| {
                ACTIVE.with(|a| {
                    a.borrow_mut().push(Active {
                        cache: id,
                        conn: Rc::clone(conn),
                        state: Rc::clone(state),
                        depth: 0,
                    })
                });
                let _popped = Pop(id);
                f()
            })
    }
}

/// Takes this thread's transaction on a cache off the active list when the
/// closure returns or unwinds.
struct Pop(u64);

impl Drop for Pop {
    fn drop(&mut self) {
        pop(self.0);
    }
}

/// Runs one write operation's closure on `state`, noting for the memo when
/// it did not say what it changed.
pub(crate) fn op<T>(
    conn: &Connection,
    state: &mut TxnState,
    f: &mut impl FnMut(&Connection, &mut TxnState) -> Result<T>,
) -> Result<T> {
    state.memo.begin_op();
    let result = f(conn, state);
    state.memo.end_op();
    result
}

/// A savepoint inside an active transaction.
fn nested<T, E: From<Error>>(
    dir: &Path,
    id: u64,
    conn: &Conn,
    state: &RefCell<TxnState>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let depth = set_depth(id, 1);
    let name = format!("diskcache_{depth}");
    if let Err(e) = conn.execute_batch(&format!("SAVEPOINT {name}")) {
        set_depth(id, -1);
        return Err(Error::from(e).into());
    }
    let (obsolete_mark, created_mark) = {
        let s = state.borrow();
        (s.obsolete.len(), s.created.len())
    };
    let undo = |conn: &Conn| {
        let _ = conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
        let mut s = state.borrow_mut();
        s.obsolete.truncate(obsolete_mark);
        for created in s.created.drain(created_mark..) {
            files::remove(dir, &created);
        }
    };
    let mut guard = Nested {
        undo: Some(&undo),
        conn,
        id,
    };
    let result = f();
    guard.undo = None;
    set_depth(id, -1);
    if conn.inherited() {
        return Err(Error::ForkedTransaction.into());
    }
    match result {
        Ok(value) => match conn.execute_batch(&format!("RELEASE {name}")) {
            Ok(()) => Ok(value),
            Err(e) => {
                undo(conn);
                Err(Error::from(e).into())
            }
        },
        Err(e) => {
            undo(conn);
            Err(e)
        }
    }
}

/// Rolls a savepoint back if its closure panics.
struct Nested<'a, F: Fn(&Conn)> {
    undo: Option<&'a F>,
    conn: &'a Conn,
    id: u64,
}

impl<F: Fn(&Conn)> Drop for Nested<'_, F> {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.take() {
            set_depth(self.id, -1);
            if !self.conn.inherited() {
                undo(self.conn);
            }
        }
    }
}
