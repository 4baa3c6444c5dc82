//! Transactions: the write path every mutation takes, and [`Cache::transact`].
//!
//! A write runs inside `BEGIN IMMEDIATE … COMMIT` on one connection. Value
//! files written for it are recorded as *created* (removed if it rolls back)
//! and files of rows it removed as *obsolete* (removed only after the
//! outermost commit, so a rollback never leaves a row without its file).
//!
//! While [`Cache::transact`] runs on a thread, every operation of the same
//! cache on that thread uses the transaction's connection; nested calls use
//! savepoints.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use rusqlite::Connection;

use crate::busy;
use crate::cache::{Cache, Inner, now};
use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::files;
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

struct Active {
    cache: u64,
    conn: Rc<Conn>,
    state: Rc<RefCell<TxnState>>,
    depth: u32,
}

thread_local! {
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
}

type Shared = (Rc<Conn>, Rc<RefCell<TxnState>>);

/// The transaction this thread holds on cache `id`, if any.
pub(crate) fn active(id: u64) -> Option<Shared> {
    ACTIVE.with(|a| {
        let a = a.borrow();
        a.iter()
            .rev()
            .find(|t| t.cache == id)
            .map(|t| (Rc::clone(&t.conn), Rc::clone(&t.state)))
    })
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
        if let Some((conn, state)) = active(self.inner.id) {
            return op(&conn, &mut state.borrow_mut(), &mut f);
        }
        let conn = self.inner.conns.get()?;
        loop {
            let mut state = TxnState::default();
            let result = self.inner.begin(&conn).and_then(|()| {
                state.before = self.inner.memo_header();
                let value = op(&conn, &mut state, &mut f)?;
                commit(&conn)?;
                Ok(value)
            });
            match result {
                Ok(value) => {
                    self.inner.committed(&conn, &state);
                    state.committed(&self.inner.dir);
                    return Ok(value);
                }
                Err(e) => {
                    rollback(&conn);
                    if e.is_timeout() && retry {
                        continue;
                    }
                    state.rolled_back(&self.inner.dir);
                    return Err(e);
                }
            }
        }
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
        if let Some((conn, _)) = active(self.inner.id) {
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
        if let Some((conn, state)) = active(id) {
            return nested(&self.inner.dir, id, &conn, &state, f);
        }
        let conn = self.inner.conns.get()?;
        loop {
            match self.inner.begin(&conn) {
                Ok(()) => break,
                Err(e) if e.is_timeout() && self.inner.retry => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let conn = Rc::new(conn);
        let state = Rc::new(RefCell::new(TxnState {
            before: self.inner.memo_header(),
            ..TxnState::default()
        }));
        ACTIVE.with(|a| {
            a.borrow_mut().push(Active {
                cache: id,
                conn: Rc::clone(&conn),
                state: Rc::clone(&state),
                depth: 0,
            })
        });
        let mut guard = Outer {
            dir: &self.inner.dir,
            id,
            conn: &conn,
            state: &state,
            done: false,
        };
        let result = f();
        guard.done = true;
        pop(id);
        let state = state.take();
        match result {
            Ok(value) => match commit(&conn) {
                Ok(()) => {
                    self.inner.committed(&conn, &state);
                    state.committed(&self.inner.dir);
                    Ok(value)
                }
                Err(e) => {
                    rollback(&conn);
                    state.rolled_back(&self.inner.dir);
                    Err(e.into())
                }
            },
            Err(e) => {
                rollback(&conn);
                state.rolled_back(&self.inner.dir);
                Err(e)
            }
        }
    }
}

/// Runs one write operation's closure on `state`, noting for the memo when
/// it did not say what it changed.
fn op<T>(
    conn: &Connection,
    state: &mut TxnState,
    f: &mut impl FnMut(&Connection, &mut TxnState) -> Result<T>,
) -> Result<T> {
    state.memo.begin_op();
    let result = f(conn, state);
    state.memo.end_op();
    result
}

impl Inner {
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

    /// Bookkeeping after this handle's commit on `conn`.
    fn committed(self: &std::sync::Arc<Self>, conn: &Connection, state: &TxnState) {
        let ours = self.memo.committed(
            self.conns.generation(),
            state.before,
            crate::checkpoint::logged(),
            &state.memo,
        );
        self.headroom.committed(&state.headroom, ours);
        self.checkpointer.committed(self, conn);
    }
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

/// Rolls the outer transaction back if its closure panics.
struct Outer<'a> {
    dir: &'a Path,
    id: u64,
    conn: &'a Conn,
    state: &'a RefCell<TxnState>,
    done: bool,
}

impl Drop for Outer<'_> {
    fn drop(&mut self) {
        if !self.done {
            pop(self.id);
            rollback(self.conn);
            self.state.take().rolled_back(self.dir);
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
            undo(self.conn);
        }
    }
}
