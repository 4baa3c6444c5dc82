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
//! hook tells each commit how many frames (pages) the log holds. Once that
//! reaches [`LOG_BYTES`] (SQLite's own default threshold: 1000 pages of
//! 4 KiB; more pages when they are smaller) the writer checkpoints
//! (`PASSIVE`: never waits for, nor blocks, readers and writers) right away
//! on its own connection, unless a transaction of this handle (any clone,
//! any thread) waited for the database's lock in the last second; then, once
//! the log reaches [`LOG_BYTES_CONTENDED`], it wakes the handle's background
//! thread to do it. The thread also checkpoints once a
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
//! when the log is still [`LOG_BYTES_CONTENDED`] long after a passive
//! checkpoint, the thread follows it with a `RESTART`
//! checkpoint: it takes the write lock, copies the few frames committed
//! since, waits for readers to leave the log, and lets the next writer start
//! it over. Writers wait for it, so it may wait for the lock and for readers
//! at most [`RESTART_WAIT`]; if it cannot, it tries again after the next
//! commits. When the passive checkpoint could not copy the whole log, a
//! reader holds an older snapshot. Mostly that reader is another writer's
//! transaction, over within microseconds; but it may be a reader that keeps
//! its snapshot for seconds, and a restart waits for it with the writers
//! held up behind (measured, retrying restarts all along while a reader held
//! a snapshot for 6 s: 16k instead of 40k sets/s, stalls of 0.6 s). So the
//! restart then waits at most [`RESTART_PROBE`], long enough for a
//! transaction to end; if the reader is still there, the log is left to
//! grow until it is done. (Skipping the restart whenever the passive
//! checkpoint fell short, as this did first, let the log double after each
//! miss: two writer processes on one cache, where one in seven passive
//! checkpoints meets the other writer's open transaction, grew it to
//! 48-164 MiB; with the probe it peaked at 45-66 MiB, median 48, in ten
//! runs.)
//!
//! A reader holding an old snapshot also makes passive checkpoints futile:
//! each one still sorts the whole log's frame list before finding it may
//! copy nothing, so checkpointing after every commit past the threshold
//! grows quadratic (measured, one writer while a reader held a snapshot:
//! 904 us per set, 1,069 sets/s, three quarters of it sorting). So after a
//! checkpoint that could not copy the whole log, the next one waits until
//! the log has doubled or [`STALL_RETRY`] has passed.
//!
//! Keeping the log short matters for reads too: to read a page, SQLite
//! first looks it up in the log's index, which grows with the log.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::cache::Inner;

/// The log that calls for an inline checkpoint: SQLite's default of 1000
/// frames of 4 KiB pages. Counted in bytes, not frames, because each
/// checkpoint costs two fsyncs whatever the page size: with 1 KiB pages and
/// 1000 frames a lone writer managed 44-46k sets/s, with 4000 frames
/// 54-56k.
const LOG_BYTES: i64 = 1000 * 4096;
/// The log that calls for a background checkpoint. Larger: with
/// writers busy on every core, each background checkpoint preempts one of
/// them, so fewer and longer ones make a shorter latency tail (measured,
/// 2 writer processes on 8 shards: set p99 290-580 us at 1000 frames,
/// 230-270 us at 4000, 100-110 us at 8000; again with the log restart
/// below, 239-249 us at 2000, 126-203 us at 4000, 74-76 us at 8000; all
/// with 4 KiB pages). The price: a log file of about
/// 33 MiB per cache once writers have contended (kept at that size, so that
/// later writers overwrite it instead of growing it; see
/// `Settings::connection_pragmas`).
const LOG_BYTES_CONTENDED: i64 = 8000 * 4096;

/// The longest a restarting checkpoint waits for the write lock, and then
/// for readers to leave the log (writers wait behind it meanwhile).
const RESTART_WAIT: Duration = Duration::from_millis(20);
/// The pause after a restarting checkpoint that could not run.
const RESTART_RETRY: Duration = Duration::from_millis(10);
/// The longest a restarting checkpoint waits when the passive one before it
/// could not copy the whole log: long enough for another writer's
/// transaction to end, short for writers held up behind a reader that keeps
/// its snapshot for long.
const RESTART_PROBE: Duration = Duration::from_millis(2);

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

/// Forgets the log length of an earlier commit, before a commit whose own
/// the caller wants to see.
pub(crate) fn forget_logged() {
    LOG_FRAMES.with(|f| f.set(0));
}

/// Whether this thread's last commit wrote to the log (the WAL hook runs
/// only for those).
pub(crate) fn logged() -> bool {
    LOG_FRAMES.with(Cell::get) > 0
}

/// The longest the thread waits before checkpointing what was committed.
const IDLE: Duration = Duration::from_secs(1);
/// The longest a checkpoint that could not copy the whole log stays
/// unrepeated while the log grows less than twofold.
const STALL_RETRY: Duration = Duration::from_secs(1);

/// The commit counter and the handle of the checkpoint thread.
pub(crate) struct Checkpointer {
    /// [`LOG_BYTES`] in frames of this database's pages.
    frames_inline: i32,
    /// [`LOG_BYTES_CONTENDED`] in frames of this database's pages.
    frames_contended: i32,
    commits: AtomicU64,
    /// The process that started the thread, and the way to wake it.
    thread: Mutex<Option<(u32, SyncSender<()>)>>,
    /// The last checkpoint that could not copy the whole log: the log's
    /// length then, and when.
    stalled: Mutex<Option<(i64, Instant)>>,
    /// The log's length after the last commit that called for a
    /// checkpoint.
    frames: AtomicI64,
    /// Passive checkpoints run by this process.
    runs: AtomicU64,
    /// When a transaction of this handle last waited for the lock: in
    /// milliseconds after `born`, plus one; 0 = never.
    last_wait: AtomicU64,
    born: Instant,
    /// The handle, for the thread (which ends when the handle is gone).
    owner: Weak<Inner>,
}

impl Checkpointer {
    /// The checkpointer of a database with pages of `page_size` bytes.
    pub(crate) fn new(page_size: u64, owner: Weak<Inner>) -> Self {
        let frames = |bytes: i64| {
            let pages = bytes / i64::try_from(page_size.max(512)).unwrap_or(4096);
            i32::try_from(pages).unwrap_or(i32::MAX)
        };
        Checkpointer {
            frames_inline: frames(LOG_BYTES),
            frames_contended: frames(LOG_BYTES_CONTENDED),
            commits: AtomicU64::new(0),
            thread: Mutex::new(None),
            stalled: Mutex::new(None),
            frames: AtomicI64::new(0),
            runs: AtomicU64::new(0),
            last_wait: AtomicU64::new(0),
            born: Instant::now(),
            owner,
        }
    }

    /// Checkpoints run by this process for this handle.
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Notes that the transaction this thread just began (or failed to
    /// begin) on this database waited for its lock, if it did.
    pub(crate) fn note_wait(&self) {
        if crate::busy::has_waited() {
            self.last_wait.store(self.millis(), Ordering::Relaxed);
        }
    }

    /// Whether a transaction of this handle waited for the lock within
    /// `window`.
    fn waited_recently(&self, window: Duration) -> bool {
        let last = self.last_wait.load(Ordering::Relaxed);
        last != 0
            && self.millis().saturating_sub(last)
                <= u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes a commit made on `conn`; checkpoints when the log is long,
    /// inline or through the thread (see the module docs).
    pub(crate) fn committed(&self, conn: &Connection) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let frames = LOG_FRAMES.with(|f| f.replace(0));
        if frames < self.frames_inline {
            return;
        }
        self.frames.store(i64::from(frames), Ordering::Relaxed);
        if !self.waited_recently(Duration::from_secs(1)) {
            let _ = self.passive(conn, i64::from(frames));
        } else if frames >= self.frames_contended {
            self.wake();
        }
    }

    fn wake(&self) {
        let pid = std::process::id();
        let mut slot = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let current = slot.as_ref().is_some_and(|(owner, _)| *owner == pid);
        if !current {
            let (tx, rx) = mpsc::sync_channel(1);
            let weak = self.owner.clone();
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

impl Checkpointer {
    /// A passive checkpoint of a log `frames` long, unless the last one was
    /// kept from copying the whole log and neither has the log doubled
    /// since nor [`STALL_RETRY`] passed (see the module docs), or another
    /// thread is checkpointing. A failure only leaves the log longer.
    fn passive(&self, conn: &Connection, frames: i64) -> Option<Checkpointed> {
        // Another thread of this process is checkpointing: nothing to add.
        let mut stalled = match self.stalled.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        if let Some((log, at)) = *stalled {
            if frames < log.saturating_mul(2) && at.elapsed() < STALL_RETRY {
                return None;
            }
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let ran = run_checkpoint(conn, "PASSIVE").ok();
        *stalled = match &ran {
            Some(c) if c.copied < c.log => Some((c.log, Instant::now())),
            _ => None,
        };
        ran
    }
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
    // Nothing on this thread may hold writers up for long.
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
            let retry = match inner.conns.get() {
                Ok(conn) => inner.checkpointer.catch_up(&conn),
                Err(_) => false,
            };
            if retry {
                drop(inner);
                std::thread::sleep(RESTART_RETRY);
            }
        }
    }
}

impl Checkpointer {
    /// The background thread's work: a passive checkpoint, then a restart of
    /// a long log (see the module docs). True when the thread should pause
    /// before it tries again.
    fn catch_up(&self, conn: &Connection) -> bool {
        let frames = self.frames.load(Ordering::Relaxed);
        self.passive(conn, frames)
            .is_some_and(|passive| self.restart(conn, &passive))
    }

    /// Restarts the log after `passive`, if it is long; true when a restart
    /// that had copied the whole log could not run, so that the thread
    /// should pause before it tries again.
    fn restart(&self, conn: &Connection, passive: &Checkpointed) -> bool {
        if passive.log < i64::from(self.frames_contended) {
            return false;
        }
        let whole = passive.copied == passive.log;
        crate::busy::set_timeout(if whole { RESTART_WAIT } else { RESTART_PROBE });
        let restarted = matches!(run_checkpoint(conn, "RESTART"), Ok(c) if c.done);
        if restarted && !whole {
            // The reader was one whose transaction ended within the probe.
            *self.stalled.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        whole && !restarted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cache, Error, Result};

    /// Passive checkpoints this handle's process has run.
    fn runs(cache: &Cache) -> u64 {
        cache.inner.checkpointer.runs.load(Ordering::Relaxed)
    }

    #[test]
    fn thresholds_are_bytes_of_log_whatever_the_page_size() {
        let default = Checkpointer::new(4096, Weak::new());
        assert_eq!(
            (default.frames_inline, default.frames_contended),
            (1000, 8000)
        );
        let small = Checkpointer::new(1024, Weak::new());
        assert_eq!((small.frames_inline, small.frames_contended), (4000, 32000));
        let large = Checkpointer::new(65536, Weak::new());
        assert_eq!((large.frames_inline, large.frames_contended), (62, 500));
    }

    /// A cache whose log grew long behind a reader that began on a fully
    /// checkpointed log and still holds its snapshot, keeping every
    /// checkpoint from copying anything until it ends; and that reader.
    fn long_log_behind_a_reader() -> Result<(Cache, Connection)> {
        let cache = Cache::builder().open_temp()?;
        cache.set("first", &1_i64)?;
        let reader = Connection::open(cache.directory().join("cache.db"))?;
        reader.execute_batch("BEGIN")?;
        reader.query_row("SELECT count(*) FROM Cache", [], |r| r.get::<_, i64>(0))?;
        let value = vec![7_u8; 600];
        for i in 0..3000 {
            cache.set(&i, &value)?;
        }
        Ok((cache, reader))
    }

    #[test]
    fn a_held_snapshot_does_not_make_every_commit_checkpoint() -> Result<()> {
        let (cache, reader) = long_log_behind_a_reader()?;
        let log = cache.inner.checkpointer.frames.load(Ordering::Relaxed);
        assert!(log > 8 * 1000, "log only {log} frames long");
        // Without the back-off, every commit past the first 1000 frames
        // checkpoints: well over 2000 of them.
        let held = runs(&cache);
        assert!((1..=20).contains(&held), "{held} checkpoints");

        // Once the reader is gone, the next checkpoint due copies the log,
        // inline: no transaction of this handle waited for the lock. A wait
        // elsewhere in this process (another test's, as the busy handler's
        // first call stands for here) does not count.
        reader.execute_batch("COMMIT")?;
        drop(reader);
        std::thread::sleep(STALL_RETRY + Duration::from_millis(50));
        crate::busy::handler(0);
        crate::busy::reset();
        cache.set("last", &2_i64)?;
        assert_eq!(runs(&cache), held + 1);
        assert_eq!(*stalled(&cache), None, "the log was not copied back");
        Ok(())
    }

    /// The record of the last checkpoint that could not copy the whole log.
    fn stalled(cache: &Cache) -> std::sync::MutexGuard<'_, Option<(i64, Instant)>> {
        cache
            .inner
            .checkpointer
            .stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The log's length after the next commit: short once it restarted.
    fn log_after_a_set(cache: &Cache) -> Result<i64> {
        cache.set("probe", &0_i64)?;
        let conn = cache.inner.conns.get()?;
        Ok(run_checkpoint(&conn, "PASSIVE")?.log)
    }

    #[test]
    fn a_reader_gone_by_the_restart_does_not_keep_the_log_long() -> Result<()> {
        let (cache, reader) = long_log_behind_a_reader()?;
        let checkpointer = &cache.inner.checkpointer;
        let conn = cache.inner.conns.get()?;
        *stalled(&cache) = None;
        let frames = i64::from(checkpointer.frames_contended);
        let short = checkpointer
            .passive(&conn, frames)
            .ok_or_else(|| Error::invalid("no checkpoint ran"))?;
        assert!(short.log >= frames && short.copied < short.log);

        // The reader still there: the restart gives up within its probe and
        // the log stays long.
        assert!(!checkpointer.restart(&conn, &short));
        drop(conn);
        assert!(log_after_a_set(&cache)? >= frames);

        // The reader gone by the time of the restart, as another writer's
        // transaction is: the log starts over.
        reader.execute_batch("COMMIT")?;
        drop(reader);
        let conn = cache.inner.conns.get()?;
        assert!(!checkpointer.restart(&conn, &short));
        drop(conn);
        assert_eq!(*stalled(&cache), None);
        let log = log_after_a_set(&cache)?;
        assert!(log < 100, "the log is still {log} frames long");
        Ok(())
    }
}
