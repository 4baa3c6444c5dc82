//! Memo and Stampede: fallible computations, concurrent misses within one
//! process, and the stored form of a stampede-protected result.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diskcache::recipes::{Memo, Stampede};
use diskcache::{Cache, DiskCache, Error, FanoutCache};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn both() -> Result<(tempfile::TempDir, Cache, FanoutCache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path().join("c"))?;
    let fanout = FanoutCache::builder()
        .shards(4)
        .open(dir.path().join("f"))?;
    Ok((dir, cache, fanout))
}

/// What a page fetch fails with.
#[derive(Debug)]
enum FetchError {
    Upstream(u16),
    #[allow(dead_code)] // shown through Debug
    Cache(Error),
}

impl From<Error> for FetchError {
    fn from(e: Error) -> Self {
        FetchError::Cache(e)
    }
}

fn errors_are_not_stored<S: DiskCache>(store: S) -> TestResult {
    let calls = AtomicU32::new(0);
    let fetch = |status: u16| -> Result<String, FetchError> {
        calls.fetch_add(1, Ordering::SeqCst);
        if status == 200 {
            Ok("<h1>home</h1>".to_string())
        } else {
            Err(FetchError::Upstream(status))
        }
    };

    let memo = Memo::new(store.clone(), "page").expire(Duration::from_secs(300));
    let failed = memo.try_get_or_compute(&"/", || fetch(503));
    assert!(matches!(failed, Err(FetchError::Upstream(503))));
    assert_eq!(memo.get::<_, String>(&"/")?, None);
    assert!(!store.contains(&memo.key(&"/")?)?);
    // The next call computes again, and an Ok result is stored.
    let page = memo
        .try_get_or_compute(&"/", || fetch(200))
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(page, "<h1>home</h1>");
    let again = memo
        .try_get_or_compute(&"/", || fetch(503))
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(again, "<h1>home</h1>");
    assert_eq!(calls.swap(0, Ordering::SeqCst), 2);

    let stampede =
        Stampede::new(Memo::new(store.clone(), "front").expire(Duration::from_secs(300)));
    let failed = stampede.try_get_or_compute(&"en", || fetch(503));
    assert!(matches!(failed, Err(FetchError::Upstream(503))));
    assert_eq!(stampede.get::<_, String>(&"en")?, None);
    // The failed computation left no marker behind: the next caller
    // computes at once instead of waiting out the lease.
    let started = Instant::now();
    let page = stampede
        .try_get_or_compute(&"en", || fetch(200))
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(page, "<h1>home</h1>");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        stampede.get::<_, String>(&"en")?.as_deref(),
        Some("<h1>home</h1>")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}

#[test]
fn failed_computations_are_returned_and_not_stored() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    errors_are_not_stored(cache)?;
    errors_are_not_stored(fanout)
}

/// `threads` threads miss one key at the same moment; returns how many
/// computed it.
fn concurrent_misses<S: DiskCache>(
    store: S,
    threads: usize,
) -> Result<u32, Box<dyn std::error::Error>> {
    let calls = Arc::new(AtomicU32::new(0));
    let start = Arc::new(Barrier::new(threads));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let memo = Memo::new(store.clone(), "slow-square");
        let calls = Arc::clone(&calls);
        let start = Arc::clone(&start);
        handles.push(std::thread::spawn(move || {
            start.wait();
            memo.get_or_compute(&12u64, || {
                calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                144u64
            })
        }));
    }
    for h in handles {
        let got = h.join().map_err(|_| "a thread panicked")??;
        assert_eq!(got, 144);
    }
    Ok(calls.load(Ordering::SeqCst))
}

#[test]
fn concurrent_misses_compute_once() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    assert_eq!(concurrent_misses(cache, 8)?, 1);
    assert_eq!(concurrent_misses(fanout, 8)?, 1);
    Ok(())
}

#[test]
fn different_keys_and_caches_do_not_wait_for_each_other() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for (i, store) in [
        (0u64, cache.clone()),
        (1, cache),
        (0, fanout.shards()[0].clone()),
    ] {
        handles.push(std::thread::spawn(move || {
            Memo::new(store, "m").get_or_compute(&i, || {
                std::thread::sleep(Duration::from_millis(400));
                i
            })
        }));
    }
    for h in handles {
        h.join().map_err(|_| "a thread panicked")??;
    }
    // Run one after another these would take 1.2 s.
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn a_panicking_or_failing_computation_wakes_its_waiters() -> TestResult {
    let (_dir, cache, _fanout) = both()?;
    for fail_by_panic in [true, false] {
        let name = if fail_by_panic { "panics" } else { "fails" };
        let computed = Arc::new(AtomicU32::new(0));
        let first = {
            let memo = Memo::new(cache.clone(), name);
            std::thread::spawn(move || {
                memo.try_get_or_compute(&1u8, || -> Result<u8, Error> {
                    std::thread::sleep(Duration::from_millis(300));
                    if fail_by_panic {
                        panic!("the computation panicked");
                    }
                    Err(Error::NotFound)
                })
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let memo = Memo::new(cache.clone(), name);
                let computed = Arc::clone(&computed);
                std::thread::spawn(move || {
                    memo.get_or_compute(&1u8, || {
                        computed.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        7u8
                    })
                })
            })
            .collect();
        let outcome = first.join();
        assert_eq!(outcome.is_err(), fail_by_panic);
        for w in waiters {
            assert_eq!(w.join().map_err(|_| "a waiter panicked")??, 7);
        }
        // Woken at once (not after the 10 s lease), and one of them computed.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }
    Ok(())
}

#[test]
fn waiters_compute_themselves_after_the_lease() -> TestResult {
    let (_dir, cache, _fanout) = both()?;
    let slow = {
        let memo = Memo::new(cache.clone(), "lease");
        std::thread::spawn(move || {
            memo.get_or_compute(&0u8, || {
                std::thread::sleep(Duration::from_millis(1500));
                1u8
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let memo = Memo::new(cache, "lease").lease(Duration::from_millis(100));
    assert_eq!(memo.get_or_compute(&0u8, || 2u8)?, 2);
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(slow.join().map_err(|_| "panicked")??, 1);
    Ok(())
}

fn stored_form<S: DiskCache>(store: S) -> TestResult {
    let stampede =
        Stampede::new(Memo::new(store.clone(), "report").expire(Duration::from_secs(300)));
    assert_eq!(stampede.get::<_, u64>(&"2026-11")?, None);
    let total: u64 = stampede.get_or_compute(&"2026-11", || (1..=100).sum())?;
    assert_eq!(total, 5050);
    assert_eq!(stampede.get::<_, u64>(&"2026-11")?, Some(5050));
    // The documented stored form: (value, seconds the computation took).
    let key = stampede.key(&"2026-11")?;
    let (value, seconds) = store.get::<(u64, f64)>(&key)?.ok_or("missing")?;
    assert_eq!(value, 5050);
    assert!(seconds >= 0.0);

    // Reading as the wrong type names the recipe, the key and the type.
    let err = stampede
        .get::<_, String>(&"2026-11")
        .err()
        .ok_or("read as the wrong type")?;
    assert!(matches!(err, Error::TypeMismatch { .. }));
    let message = err.to_string();
    assert!(message.contains("\"report\""), "{message}");
    assert!(message.contains("String"), "{message}");
    assert!(message.contains(&format!("{key:?}")), "{message}");

    let memo = Memo::new(store, "count");
    memo.get_or_compute(&"a", || 3u32)?;
    let err = memo
        .get::<_, String>(&"a")
        .err()
        .ok_or("read as the wrong type")?;
    let message = err.to_string();
    assert!(matches!(err, Error::TypeMismatch { .. }));
    assert!(
        message.contains("\"count\"") && message.contains("String"),
        "{message}"
    );
    let err = memo
        .get_or_compute(&"a", || "three".to_string())
        .err()
        .ok_or("read as the wrong type")?;
    assert!(err.to_string().contains("\"count\""), "{err}");
    Ok(())
}

#[test]
fn stampede_results_read_back_through_get() -> TestResult {
    let (_dir, cache, fanout) = both()?;
    stored_form(cache)?;
    stored_form(fanout)
}
