//! Waiting for SQLite's locks.
//!
//! SQLite's default busy handler sleeps at least a millisecond between
//! attempts, and then longer; a write transaction here lasts tens of
//! microseconds, so that sleep dominates the tail latency of writers that
//! contend. This handler yields the CPU for the first attempts, then sleeps
//! for a time that grows from a few microseconds to at most a millisecond,
//! until the caller's timeout has passed.
//!
//! SQLite's C callback takes a plain function pointer, so the timeout and the
//! start of the current wait are kept per thread: every cache operation sets
//! its timeout before it touches SQLite.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static TIMEOUT: Cell<Duration> = const { Cell::new(Duration::from_secs(60)) };
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets the timeout that busy waits on this thread honour.
pub(crate) fn set_timeout(timeout: Duration) {
    TIMEOUT.with(|t| t.set(timeout));
}

/// How long the most recent busy wait on this thread lasted.
pub(crate) fn waited() -> Duration {
    STARTED.with(|s| s.get().map(|t| t.elapsed()).unwrap_or_default())
}

/// Forgets the start of the last wait, so that `waited` reports only waits
/// that happen from now on.
pub(crate) fn reset() {
    STARTED.with(|s| s.set(None));
}

/// The busy handler installed on every connection: returns true to retry.
pub(crate) fn handler(attempt: i32) -> bool {
    let now = Instant::now();
    let started = STARTED.with(|s| {
        if attempt == 0 {
            s.set(Some(now));
            now
        } else {
            s.get().unwrap_or(now)
        }
    });
    let timeout = TIMEOUT.with(Cell::get);
    let elapsed = now.duration_since(started);
    if elapsed >= timeout {
        return false;
    }
    let pause = backoff(attempt);
    if pause.is_zero() {
        std::thread::yield_now();
    } else {
        std::thread::sleep(pause.min(timeout - elapsed));
    }
    true
}

/// The pause before retry `attempt`: yields first, then 10 µs growing by
/// half each time, capped at one millisecond.
fn backoff(attempt: i32) -> Duration {
    const YIELDS: i32 = 8;
    if attempt < YIELDS {
        return Duration::ZERO;
    }
    let mut micros: u64 = 10;
    for _ in YIELDS..attempt.min(YIELDS + 20) {
        micros = (micros * 3 / 2).min(1000);
    }
    Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0).is_zero());
        assert_eq!(backoff(8), Duration::from_micros(10));
        assert!(backoff(12) > backoff(9));
        assert_eq!(backoff(1000), Duration::from_millis(1));
    }

    #[test]
    fn handler_gives_up_after_timeout() {
        set_timeout(Duration::from_millis(5));
        assert!(handler(0));
        let mut attempt = 1;
        while handler(attempt) {
            attempt += 1;
            assert!(attempt < 100_000, "handler never gave up");
        }
        assert!(waited() >= Duration::from_millis(5));
        set_timeout(Duration::from_secs(60));
    }
}
