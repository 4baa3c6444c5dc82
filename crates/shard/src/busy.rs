//! Waiting for SQLite's locks.
//!
//! SQLite's default busy handler sleeps at least a millisecond between
//! attempts, and then longer; a write transaction here lasts tens of
//! microseconds, and a writer that commits takes the lock again within a
//! couple of microseconds, so a waiter that sleeps keeps missing the moment
//! the lock is free. This handler retries after a yield (about a
//! microsecond apart) for the first 200 µs of a wait, then sleeps 20 µs
//! between attempts, and only after 200 ms of waiting backs off to pauses
//! of up to a millisecond (a long transaction is holding the lock), until
//! the caller's timeout has passed. Backing off sooner starves: with two
//! processes writing in a loop, one that polled every millisecond after
//! 5 ms of waiting was kept out for up to 0.6 s (measured).
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

/// Whether this thread began to wait for a lock since the last [`reset`].
pub(crate) fn has_waited() -> bool {
    STARTED.with(|s| s.get().is_some())
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
    if crate::fork::yield_to_fork() {
        return false;
    }
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
    let pause = backoff(elapsed);
    if pause.is_zero() {
        std::thread::yield_now();
    } else {
        std::thread::sleep(pause.min(timeout - elapsed));
    }
    true
}

/// The pause before the next attempt, after waiting `elapsed`.
fn backoff(elapsed: Duration) -> Duration {
    const SPIN: Duration = Duration::from_micros(200);
    const SHORT: Duration = Duration::from_millis(200);
    if elapsed < SPIN {
        Duration::ZERO
    } else if elapsed < SHORT {
        Duration::from_micros(20)
    } else {
        (elapsed / 10).min(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_sleeps_briefly_then_backs_off() {
        assert!(backoff(Duration::from_micros(50)).is_zero());
        assert_eq!(
            backoff(Duration::from_micros(300)),
            Duration::from_micros(20)
        );
        assert_eq!(backoff(Duration::from_millis(8)), Duration::from_micros(20));
        assert!(backoff(Duration::from_millis(300)) > Duration::from_micros(20));
        assert_eq!(backoff(Duration::from_secs(3)), Duration::from_millis(1));
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
