//! transact: atomic groups, nesting as savepoints, rollback on error and panic.

use diskcache_shard::{Cache, Error};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn commit_rollback_and_nested_savepoints() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(64).open(dir.path())?;
    cache.transact(|| {
        cache.set("a", &1)?;
        // An inner failure rolls back only the inner part.
        let inner: Result<(), Error> = cache.transact(|| {
            cache.set("b", &2)?;
            cache.set("big", &vec![9u8; 1000])?;
            Err(Error::NotFound)
        });
        assert!(inner.is_err());
        assert!(!cache.contains("b")?);
        cache.transact(|| cache.set("c", &3))?;
        Ok::<_, Error>(())
    })?;
    assert!(cache.contains("a")? && cache.contains("c")? && !cache.contains("big")?);
    assert!(
        cache.check(false)?.is_clean(),
        "the rolled-back value file was removed"
    );

    let outer: Result<(), Error> = cache.transact(|| {
        cache.delete("a")?;
        cache.set("d", &4)?;
        Err(Error::NotFound)
    });
    assert!(outer.is_err());
    assert!(cache.contains("a")? && !cache.contains("d")?);
    Ok(())
}

#[test]
fn a_panic_inside_rolls_back_and_the_cache_stays_usable() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let c2 = cache.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = c2.transact(|| {
            c2.set("x", &1)?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        });
    }));
    assert!(result.is_err());
    assert!(!cache.contains("x")?);
    cache.set("y", &2)?;
    assert_eq!(cache.get::<i32>("y")?, Some(2));
    Ok(())
}

#[test]
fn other_threads_wait_for_the_transaction() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("n", &0)?;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || -> Result<(), Error> {
                for _ in 0..50 {
                    // read-modify-write is atomic inside transact
                    cache.transact(|| {
                        let n = cache.get::<i64>("n")?.unwrap_or(0);
                        cache.set("n", &(n + 1))
                    })?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    assert_eq!(cache.get::<i64>("n")?, Some(200));
    Ok(())
}
