//! Watching the write-ahead logs while workers run: a log that keeps
//! growing is a violation, even if every value survives.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Res;

/// The largest a log may get: the cache restarts it at about 33 MiB and
/// truncates it to 40 MiB; this leaves room for restarts that wait.
pub const LOG_BOUND: u64 = 128 << 20;

/// How often the logs are measured.
const EVERY: Duration = Duration::from_millis(20);

/// The largest `*-wal` file in `dir` or one level below (a fanout cache's
/// shards), in bytes.
pub fn largest_log(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            largest = largest.max(largest_in(&path));
        } else if is_log(&path) {
            largest = largest.max(entry.metadata().map(|m| m.len()).unwrap_or(0));
        }
    }
    largest
}

/// The largest `*-wal` file directly in `dir`.
fn largest_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_log(&e.path()))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .max()
        .unwrap_or(0)
}

fn is_log(path: &Path) -> bool {
    path.to_string_lossy().ends_with("-wal")
}

/// Runs `f` while a thread measures the logs under `dir`; returns what `f`
/// returned and the largest log seen.
pub fn watching<T>(dir: &Path, f: impl FnOnce() -> Res<T>) -> Res<(T, u64)> {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut largest = 0;
            while !done.load(Ordering::Relaxed) {
                largest = largest.max(largest_log(dir));
                std::thread::sleep(EVERY);
            }
            largest
        });
        let result = f();
        done.store(true, Ordering::Relaxed);
        let largest = watcher.join().map_err(|_| "the log watcher panicked")?;
        Ok((result?, largest))
    })
}

/// A violation when `largest` is over [`LOG_BOUND`].
pub fn check(largest: u64) -> Option<String> {
    (largest > LOG_BOUND).then(|| {
        format!(
            "a write-ahead log grew to {} MiB (bound {} MiB)",
            largest >> 20,
            LOG_BOUND >> 20
        )
    })
}
