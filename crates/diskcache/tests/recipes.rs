//! The recipes within one process: on a Cache and on a FanoutCache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diskcache::recipes::{Averager, BoundedSemaphore, Lock, Memo, RLock, Stampede};
use diskcache::{Cache, DiskCache, Error, FanoutCache, Key};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn both() -> Result<(tempfile::TempDir, Cache, FanoutCache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path().join("c"))?;
    let fanout = FanoutCache::builder()
        .shards(4)
        .open(dir.path().join("f"))?;
    Ok((dir, cache, fanout))
}

fn locks_exclude_and_expire<S: DiskCache>(store: S) -> TestResult {
    let lock = Lock::new(store.clone(), "l");
    let guard = lock.acquire()?;
    assert!(lock.try_acquire()?.is_none());
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(20)),
        Err(Error::WaitTimeout { .. })
    ));
    guard.release()?;
    // A crashed holder (here: a guard leaked) blocks only until expiry.
    let expiring = Lock::new(store.clone(), "e").expire(Duration::from_millis(50));
    std::mem::forget(expiring.acquire()?);
    let later = expiring.acquire_timeout(Duration::from_secs(5))?;
    drop(later);

    let rlock = RLock::new(store.clone(), "r");
    let a = rlock.acquire()?;
    let b = rlock.acquire()?;
    let other = {
        let rlock = RLock::new(store.clone(), "r");
        std::thread::spawn(move || rlock.acquire_timeout(Duration::from_millis(30)).map(drop))
    };
    assert!(matches!(
        other.join().map_err(|_| "panic")?,
        Err(Error::WaitTimeout { .. })
    ));
    b.release()?;
    assert!(rlock.locked()?);
    a.release()?;
    assert!(!rlock.locked()?);
    // Releasing what this thread does not hold is an error.
    let held = rlock.acquire()?;
    let thief = {
        let rlock = RLock::new(store.clone(), "r");
        std::thread::spawn(move || {
            rlock
                .acquire_timeout(Duration::from_millis(1))
                .map(|g| g.release())
        })
    };
    assert!(thief.join().map_err(|_| "panic")?.is_err());
    drop(held);

    let sem = BoundedSemaphore::new(store, "s", 2);
    let one = sem.acquire()?;
    let two = sem.acquire()?;
    assert!(sem.try_acquire()?.is_none());
    // A failed try gave nothing back: still none free.
    assert!(sem.try_acquire()?.is_none());
    one.release()?;
    let three = sem.acquire()?;
    two.release()?;
    three.release()?;
    // Both permits are back; a release beyond them is an error.
    let a = sem.acquire()?;
    let b = sem.acquire()?;
    a.release()?;
    b.release()?;
    let extra = sem.acquire()?;
    extra.release()?;
    assert!(sem.try_acquire()?.is_some());
    Ok(())
}

#[test]
fn releasing_beyond_the_bound_is_an_error() -> TestResult {
    let (_dir, cache, _) = both()?;
    let wide = BoundedSemaphore::new(cache.clone(), "s", 2);
    let narrow = BoundedSemaphore::new(cache, "s", 1);
    let w = wide.acquire()?; // 2 -> 1
    let n = narrow.acquire()?; // 1 -> 0
    w.release()?; // 0 -> 1
    assert!(matches!(n.release(), Err(Error::ReleasedTooOften { .. })));
    Ok(())
}

#[test]
fn locks_on_a_cache_and_on_a_fanout_cache() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    locks_exclude_and_expire(cache)?;
    locks_exclude_and_expire(fanout)?;
    Ok(())
}

#[test]
fn threads_contending_for_a_lock_never_overlap() -> TestResult {
    let (_dir, cache, _) = both()?;
    let inside = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let lock = Lock::new(cache.clone(), "t");
            let inside = Arc::clone(&inside);
            std::thread::spawn(move || -> Result<(), Error> {
                for _ in 0..25 {
                    let g = lock.acquire()?;
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two holders at once"
                    );
                    std::thread::sleep(Duration::from_micros(200));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    g.release()?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "panic")??;
    }
    Ok(())
}

#[test]
fn averager_and_memo() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    let avg = Averager::new(fanout.clone(), "a");
    for v in [1.0, 2.0, 6.0] {
        avg.add(v)?;
    }
    assert_eq!(avg.get()?, Some(3.0));

    let memo = Memo::new(cache.clone(), "f").tag("memo").typed(true);
    let mut calls = 0;
    assert_eq!(
        memo.get_or_compute(&(1u8, "x"), || {
            calls += 1;
            10
        })?,
        10
    );
    assert_eq!(
        memo.get_or_compute(&(1u8, "x"), || {
            calls += 1;
            11
        })?,
        10
    );
    // Typed: the same value as another type is another entry.
    assert_eq!(
        memo.get_or_compute(&(1u16, "x"), || {
            calls += 1;
            12
        })?,
        12
    );
    assert_eq!(calls, 2);
    assert_ne!(memo.key(&(1u8, "x"))?, memo.key(&(1u16, "x"))?);
    let untyped = Memo::new(cache.clone(), "f");
    assert_eq!(untyped.key(&(1u8, "x"))?, untyped.key(&(1u16, "x"))?);
    assert_eq!(cache.evict("memo")?, 2);
    Ok(())
}

#[test]
fn stampede_recomputes_early_as_expiry_nears() -> TestResult {
    let (_dir, cache, _) = both()?;
    let memo =
        Stampede::new(Memo::new(cache.clone(), "s").expire(Duration::from_millis(600))).beta(1.0);
    let computed = AtomicU32::new(0);
    // Every computation takes 100 ms, so the stored computation time is
    // always about 0.1 s.
    let slow = || {
        computed.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        7u32
    };
    assert_eq!(memo.get_or_compute(&1, slow)?, 7);
    // Far from expiry (about 0.6 s left) a call recomputes with probability
    // e^-6 (0.25%): 20 calls almost never do.
    let before = computed.load(Ordering::SeqCst);
    for _ in 0..20 {
        memo.get_or_compute(&1, slow)?;
    }
    let early_far = computed.load(Ordering::SeqCst) - before;
    assert!(
        early_far <= 3,
        "{early_far} early recomputations far from expiry"
    );
    // 50 ms before expiry a call recomputes with probability e^-0.5 (61%):
    // of 20 calls, at least one does.
    // (On a machine so loaded that the entry has already expired, every
    // call below finds it missing and recomputes.)
    let key: Key = memo.key(&1)?;
    let until = cache
        .get_entry::<(u32, f64)>(&key)?
        .and_then(|e| e.expire_time)
        .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok())
        .unwrap_or_default();
    std::thread::sleep(until.saturating_sub(Duration::from_millis(50)));
    let before = computed.load(Ordering::SeqCst);
    for _ in 0..20 {
        memo.get_or_compute(&1, slow)?;
    }
    let early_near = computed.load(Ordering::SeqCst) - before;
    assert!(early_near >= 1, "no early recomputation near expiry");
    assert!(cache.contains(&key)?);
    Ok(())
}
