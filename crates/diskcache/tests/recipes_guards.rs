//! Lock, RLock and semaphore guards own what they hold: they are
//! `Send + 'static`, outlive the handle they came from and move between
//! threads.

use std::time::Duration;

use diskcache::recipes::{BoundedSemaphore, Lock, LockGuard, RLock, SemaphoreGuard};
use diskcache::{Cache, DiskCache, FanoutCache};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn assert_static_send<T: Send + 'static>(_: &T) {}

fn both() -> Result<(tempfile::TempDir, Cache, FanoutCache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path().join("c"))?;
    let fanout = FanoutCache::builder()
        .shards(4)
        .open(dir.path().join("f"))?;
    Ok((dir, cache, fanout))
}

/// A guard that outlives the lock value it was taken from.
fn take<S: DiskCache>(store: S, name: &str) -> diskcache::Result<LockGuard<S>> {
    let lock = Lock::new(store, name);
    lock.acquire()
}

fn guards_move_to_threads<S: DiskCache>(store: S) -> TestResult {
    let lock = Lock::new(store.clone(), "job").expire(Duration::from_secs(60));
    let guard = lock.acquire()?;
    assert_static_send(&guard);
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        drop(guard); // released here, on the worker thread
    });
    // Held while the worker has the guard.
    assert!(lock.try_acquire()?.is_none());
    worker.join().map_err(|_| "worker panicked")?;
    assert!(!lock.locked()?);

    // Released explicitly on another thread, reporting the outcome.
    let guard = lock.acquire()?;
    std::thread::spawn(move || guard.release())
        .join()
        .map_err(|_| "worker panicked")??;
    assert!(!lock.locked()?);

    // A guard returned from a function whose lock value is gone.
    let guard = take(store.clone(), "returned")?;
    assert!(Lock::new(store.clone(), "returned").locked()?);
    drop(guard);
    assert!(!Lock::new(store.clone(), "returned").locked()?);

    // RLock: taken twice on this thread, released on others.
    let rlock = RLock::new(store.clone(), "config");
    let outer = rlock.acquire()?;
    let inner = rlock.acquire()?;
    assert_static_send(&inner);
    std::thread::spawn(move || drop(inner))
        .join()
        .map_err(|_| "worker panicked")?;
    assert!(rlock.locked()?);
    std::thread::spawn(move || outer.release())
        .join()
        .map_err(|_| "worker panicked")??;
    assert!(!rlock.locked()?);

    // Semaphore permits handed to workers.
    let slots = BoundedSemaphore::new(store, "downloads", 2);
    let permits: Vec<SemaphoreGuard<S>> = vec![slots.acquire()?, slots.acquire()?];
    assert!(slots.try_acquire()?.is_none());
    let workers: Vec<_> = permits
        .into_iter()
        .map(|permit| {
            assert_static_send(&permit);
            std::thread::spawn(move || drop(permit))
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "worker panicked")?;
    }
    let a = slots.try_acquire()?.ok_or("a permit came back")?;
    let b = slots.try_acquire()?.ok_or("a permit came back")?;
    drop((a, b));
    Ok(())
}

#[test]
fn guards_are_static_and_send() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    guards_move_to_threads(cache)?;
    guards_move_to_threads(fanout)
}

#[test]
fn lock_clones_are_the_same_lock() -> TestResult {
    let (_dir, cache, _fanout) = both()?;
    let lock = Lock::new(cache, "shared");
    let copy = lock.clone();
    let guard = lock.acquire()?;
    assert!(copy.locked()?);
    assert!(copy.try_acquire()?.is_none());
    drop(guard);
    assert!(copy.try_acquire()?.is_some());
    Ok(())
}
