//! WAL checkpoints off the writers' path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that writer copies the log into the database and fsyncs it,
//! which takes milliseconds and stalls the other writers. Here connections
//! turn automatic checkpoints off, writers count their commits, and one
//! background thread per cache handle checkpoints (`PASSIVE`: it never
//! waits for, or blocks, readers and writers) every [`EVERY`] commits and
//! once a second while there were commits. The thread holds only a weak
//! reference: it ends when the last handle is dropped, and a child process
//! after `fork` starts its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::cache::Inner;

/// Commits between checkpoints (a write here adds about four pages to the
/// log, so this is near SQLite's default of 1000 pages).
const EVERY: u64 = 1024;
/// The longest the thread waits before checkpointing what was committed.
const IDLE: Duration = Duration::from_secs(1);

/// The commit counter and the handle of the checkpoint thread.
#[derive(Default)]
pub(crate) struct Checkpointer {
    commits: AtomicU64,
    /// The process that started the thread, and the way to wake it.
    thread: Mutex<Option<(u32, SyncSender<()>)>>,
}

impl Checkpointer {
    /// Notes a commit; every [`EVERY`] commits wakes the thread (starting
    /// it first if this process has none).
    pub(crate) fn committed(&self, inner: &Arc<Inner>) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n % EVERY == 0 {
            self.wake(inner);
        }
    }

    fn wake(&self, inner: &Arc<Inner>) {
        let pid = std::process::id();
        let mut slot = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let current = slot.as_ref().is_some_and(|(owner, _)| *owner == pid);
        if !current {
            let (tx, rx) = mpsc::sync_channel(1);
            let weak = Arc::downgrade(inner);
            let spawned = std::thread::Builder::new()
                .name("diskcache-checkpoint".into())
                .spawn(move || run(&weak, &rx));
            if spawned.is_err() {
                // No thread: leave checkpoints to SQLite's close and to the
                // next wake-up; nothing is lost, the log just grows.
                return;
            }
            *slot = Some((pid, tx));
        }
        if let Some((_, tx)) = slot.as_ref() {
            let _ = tx.try_send(());
        }
    }
}

fn run(weak: &Weak<Inner>, wake: &mpsc::Receiver<()>) {
    let mut done = 0;
    loop {
        if let Err(RecvTimeoutError::Disconnected) = wake.recv_timeout(IDLE) {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let commits = inner.checkpointer.commits.load(Ordering::Relaxed);
        if commits != done {
            done = commits;
            if let Ok(conn) = inner.conns.get() {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        }
    }
}
