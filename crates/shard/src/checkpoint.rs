//! WAL checkpoints: inline while this process writes alone, on a
//! background thread while other writers contend.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that writer copies the log into the database and fsyncs it,
//! which takes milliseconds. Alone, that is the cheapest place for it (one
//! write in a few hundred pays, the others run undisturbed). With other
//! writers active, measured with two writer processes, those milliseconds
//! hold them up too and dominate their tail latency.
//!
//! So connections turn SQLite's automatic checkpoints off, and SQLite's WAL
//! hook tells each commit how many frames the log holds. Once that reaches
//! [`FRAMES`] (SQLite's own default threshold) the writer checkpoints
//! (`PASSIVE`: never waits for, nor blocks, readers and writers) right away
//! on its own connection, unless this process has waited for a lock in the
//! last second; then, once the log reaches [`FRAMES_CONTENDED`], it wakes the
//! handle's background thread to do it. The thread also checkpoints once a
//! second while there were commits. It holds
//! only a weak reference: it ends when the last handle is dropped, and a
//! child process after `fork` starts its own.
//!
//! A passive checkpoint never restarts the log: SQLite starts writing the
//! log from its beginning again only when a writer begins at a moment when
//! every frame has been copied back. With writers taking turns without a
//! pause, some frame is always newer than the checkpoint, so the log would
//! grow without end (measured: 2 GiB in 10 s for a 1.5 MiB database, two
//! writer processes on one cache, every read slowed by the long log). So
//! when the log is still [`FRAMES_CONTENDED`] frames long after a passive
//! checkpoint that copied all of it, the thread follows it with a `RESTART`
//! checkpoint: it takes the write lock, copies the few frames committed
//! since, waits for readers to leave the log, and lets the next writer start
//! it over. Writers wait for it, so it may wait for the lock and for readers
//! at most [`RESTART_WAIT`]; if it cannot, it tries again after the next
//! commits. When the passive checkpoint could not copy the whole log, a
//! reader holds an older snapshot and would hold the restart too: trying
//! anyway blocked the writers for most of the reader's life (measured, a
//! reader holding a snapshot for 6 s: 16k instead of 40k sets/s, stalls of
//! 0.6 s), so the log is left to grow until that reader is done.
//!
//! Keeping the log short matters for reads too: to read a page, SQLite
//! first looks it up in the log's index, which grows with the log.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::Connection;

use crate::cache::Inner;

/// Frames in the log that call for an inline checkpoint (SQLite's default).
const FRAMES: i32 = 1000;
/// Frames in the log that call for a background checkpoint. Larger: with
/// writers busy on every core, each background checkpoint preempts one of
/// them, so fewer and longer ones make a shorter latency tail (measured,
/// 2 writer processes on 8 shards: set p99 290-580 us at 1000 frames,
/// 230-270 us at 4000, 100-110 us at 8000; again with the log restart
/// below, 239-249 us at 2000, 126-203 us at 4000, 74-76 us at 8000). The price: a log file of about
/// 33 MiB per cache once writers have contended (kept at that size, so that
/// later writers overwrite it instead of growing it; see
/// `Settings::connection_pragmas`).
const FRAMES_CONTENDED: i32 = 8000;

/// The longest a restarting checkpoint waits for the write lock, and then
/// for readers to leave the log (writers wait behind it meanwhile).
const RESTART_WAIT: Duration = Duration::from_millis(20);
/// The pause after a restarting checkpoint that could not run.
const RESTART_RETRY: Duration = Duration::from_millis(10);

thread_local! {
    /// Frames in the log after this thread's last commit, from the WAL hook.
    static LOG_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The WAL hook installed on every connection: records the log's length.
pub(crate) fn wal_hook(
    _: &rusqlite::hooks::Wal,
    frames: std::os::raw::c_int,
) -> rusqlite::Result<()> {
    LOG_FRAMES.with(|f| f.set(frames));
    Ok(())
}
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
    /// Notes a commit made on `conn`; checkpoints when the log is long,
    /// inline or through the thread (see the module docs).
    pub(crate) fn committed(&self, inner: &Arc<Inner>, conn: &Connection) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let frames = LOG_FRAMES.with(|f| f.replace(0));
        if frames < FRAMES {
            return;
        }
        if !crate::busy::waited_recently(Duration::from_secs(1)) {
            checkpoint(conn);
        } else if frames >= FRAMES_CONTENDED {
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

/// A passive checkpoint; a failure only leaves the log longer.
fn checkpoint(conn: &Connection) {
    let _ = run_checkpoint(conn, "PASSIVE");
}

/// What a checkpoint did.
struct Checkpointed {
    /// It ran to the end, not kept back by a lock.
    done: bool,
    /// Frames in the log.
    log: i64,
    /// Frames of the log now in the database.
    copied: i64,
}

/// Runs `PRAGMA wal_checkpoint(mode)`.
fn run_checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Checkpointed> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpointed {
            done: row.get::<_, i64>(0)? == 0,
            log: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

fn run(weak: &Weak<Inner>, wake: &mpsc::Receiver<()>) {
    crate::busy::set_timeout(RESTART_WAIT);
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
                // Restart only a long log that was copied back whole: a
                // reader that keeps an older snapshot would hold the
                // restart, and the writers behind it, for all of its wait.
                let restart = matches!(run_checkpoint(&conn, "PASSIVE"),
                    Ok(c) if c.log >= i64::from(FRAMES_CONTENDED) && c.copied == c.log);
                if restart && !matches!(run_checkpoint(&conn, "RESTART"), Ok(c) if c.done) {
                    drop(conn);
                    drop(inner);
                    std::thread::sleep(RESTART_RETRY);
                }
            }
        }
    }
}
