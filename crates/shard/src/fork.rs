//! What keeps connections valid across `fork`.
//!
//! SQLite's unix VFS keeps, per process, one record per open database file
//! (per inode): which locks the process holds on it, how many connections
//! share them, and the mapping of its WAL index. A child made by `fork`
//! inherits that record but none of the POSIX locks it describes. A
//! connection the child then opens joins the inherited record and believes
//! the locks are held: the child writes without the shared lock that keeps
//! other processes from deleting the WAL under it, and a write lock another
//! thread of the parent held at the fork stays "held" in the child for
//! good. So:
//!
//! - Every connection this crate lends to a thread is counted ([`Lend`]).
//!   Just before a fork (`pthread_atfork`'s prepare handler), new lends
//!   wait, and the fork waits until the other threads have returned theirs
//!   (at most [`FORK_WAIT`]); a thread waiting for a lock gives up its wait
//!   (see [`yield_to_fork`]) so that it does not hold the fork up. At the
//!   fork, then, every connection but the forking thread's own is idle.
//! - In the child, the first call closes every inherited connection that
//!   is idle, without a checkpoint (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`, so
//!   it neither writes nor deletes anything the parent uses); once the last
//!   one of a file has closed, SQLite forgets its record, and the child's
//!   new connections take locks of their own.
//! - A connection that cannot be closed yet (a transaction the forking
//!   thread had begun, or one another thread held longer than the fork
//!   waited) keeps its file's record alive; the child opens no connection
//!   to that file while it is open ([`Error::ForkedTransaction`]).

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest a fork waits for other threads to return their connections.
pub(crate) const FORK_WAIT: Duration = Duration::from_secs(1);

/// A fork is about to happen: new lends wait.
static FORKING: AtomicBool = AtomicBool::new(false);
/// Connections lent to threads of this process right now.
static LENT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Connections lent to this thread right now.
    static MINE: Cell<usize> = const { Cell::new(0) };
    /// This thread's lock wait gave up because a fork was waiting.
    static YIELDED: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Installs the fork handlers (once per process; a child inherits them).
pub(crate) fn install() {
    INSTALL.call_once(handlers::install);
}

/// A connection lent to this thread: counted until dropped.
pub(crate) struct Lend(());

impl Lend {
    /// Counts a lend, first waiting for a fork in progress (unless this
    /// thread already holds a lend: the fork is waiting for it).
    pub(crate) fn new() -> Lend {
        let held = MINE.with(Cell::get) > 0;
        loop {
            if !held {
                wait_for_fork();
            }
            LENT.fetch_add(1, Ordering::SeqCst);
            if held || !FORKING.load(Ordering::SeqCst) {
                break;
            }
            LENT.fetch_sub(1, Ordering::SeqCst);
        }
        MINE.with(|m| m.set(m.get() + 1));
        Lend(())
    }
}

impl Drop for Lend {
    fn drop(&mut self) {
        MINE.with(|m| m.set(m.get().saturating_sub(1)));
        LENT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until no fork is about to happen (bounded: a fork waits at most
/// [`FORK_WAIT`] for others).
pub(crate) fn wait_for_fork() {
    // The common case, without reading the clock.
    if !FORKING.load(Ordering::SeqCst) {
        return;
    }
    let deadline = Instant::now() + FORK_WAIT + FORK_WAIT;
    while FORKING.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// Called by the busy handler: true when this thread should give up its
/// lock wait because a fork is waiting for its connection. The failed
/// statement is then retried after the fork (see [`take_yielded`]).
pub(crate) fn yield_to_fork() -> bool {
    if FORKING.load(Ordering::SeqCst) {
        YIELDED.with(|y| y.set(true));
        true
    } else {
        false
    }
}

/// Whether this thread's last lock wait gave up for a fork (and forgets
/// it).
pub(crate) fn take_yielded() -> bool {
    YIELDED.with(|y| y.replace(false))
}

/// The three `pthread_atfork` handlers.
#[allow(unsafe_code)]
mod handlers {
    use super::*;

    pub(super) fn install() {
        #[cfg(unix)]
        {
            // SAFETY: the handlers are plain functions that live as long as
            // the process; registering them has no other precondition. Its
            // only failure is ENOMEM, after which forks are unguarded, as
            // before this crate was loaded.
            let _ = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        }
    }

    /// In the parent, before the fork: stop new lends, wait for the other
    /// threads' lends to come back (bounded).
    extern "C" fn prepare() {
        FORKING.store(true, Ordering::SeqCst);
        let mine = MINE.with(Cell::get);
        let deadline = Instant::now() + FORK_WAIT;
        while LENT.load(Ordering::SeqCst) > mine && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// In the parent, after the fork.
    extern "C" fn parent() {
        FORKING.store(false, Ordering::SeqCst);
    }

    /// In the child: only the forking thread exists, with its own lends.
    /// Only atomic stores here (nothing that could take a lock).
    extern "C" fn child() {
        LENT.store(MINE.with(Cell::get), Ordering::SeqCst);
        FORKING.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_are_counted_per_thread_and_nest() {
        let outer = Lend::new();
        let inner = Lend::new();
        assert_eq!(MINE.with(Cell::get), 2);
        drop(inner);
        drop(outer);
        assert_eq!(MINE.with(Cell::get), 0);
    }

    #[test]
    fn a_lock_wait_yields_only_while_a_fork_waits() {
        assert!(!yield_to_fork());
        assert!(!take_yielded());
    }
}
