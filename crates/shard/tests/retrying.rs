//! `Cache::retrying`: maintenance and transactions that wait out another
//! connection's write lock, with a short timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diskcache_shard::{Cache, Error};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Another connection that takes `cache.db`'s write lock for `hold`, again
/// and again with 1 ms between, until `stop` is set.
fn keep_locking(
    db: std::path::PathBuf,
    hold: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<rusqlite::Result<u32>> {
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mut holds = 0;
        while !stop.load(Ordering::Relaxed) {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            std::thread::sleep(hold);
            conn.execute_batch("COMMIT")?;
            holds += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(holds)
    })
}

fn short() -> Res<Cache> {
    Ok(Cache::builder()
        .timeout(Duration::from_millis(5))
        .cull_limit(0)
        .open_temp()?)
}

#[test]
fn a_clear_of_many_batches_counts_every_entry_while_the_lock_is_taken_between_them() -> Res {
    let cache = short()?;
    cache.transact(|| {
        for i in 0..3000 {
            cache.set(&i, &i)?;
        }
        Ok::<_, Error>(())
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let other = keep_locking(
        cache.directory().join("cache.db"),
        Duration::from_millis(20),
        Arc::clone(&stop),
    );
    std::thread::sleep(Duration::from_millis(5));
    let cleared = cache.retrying().clear();
    stop.store(true, Ordering::Relaxed);
    let holds = other
        .join()
        .map_err(|_| "the other connection panicked")??;
    assert_eq!(cleared?, 3000);
    assert!(holds > 1, "the lock was taken {holds} times");
    assert_eq!(cache.len()?, 0);
    Ok(())
}

#[test]
fn settings_and_transactions_wait_for_the_lock() -> Res {
    let cache = short()?;
    let stop = Arc::new(AtomicBool::new(false));
    let other = keep_locking(
        cache.directory().join("cache.db"),
        Duration::from_millis(30),
        Arc::clone(&stop),
    );
    std::thread::sleep(Duration::from_millis(5));
    let mut runs = 0;
    let done = (|| -> Result<i64, Error> {
        cache.retrying().set_size_limit(1 << 20)?;
        cache.retrying().set_cull_limit(2)?;
        cache.retrying().set_statistics(true)?;
        cache.retrying().create_tag_index()?;
        cache.retrying().transact(|| {
            runs += 1;
            cache.set("a", &1)?;
            cache.incr("a", 1, None)
        })
    })();
    stop.store(true, Ordering::Relaxed);
    other
        .join()
        .map_err(|_| "the other connection panicked")??;
    assert_eq!(done?, 2);
    assert_eq!(runs, 1);
    let s = Cache::open(cache.directory())?.settings();
    let got = (s.size_limit, s.cull_limit, s.statistics, s.tag_index);
    assert_eq!(got, (1 << 20, 2, true, true));
    Ok(())
}

#[test]
fn an_error_of_the_closure_is_returned_and_it_runs_once() -> Res {
    let cache = short()?;
    let mut runs = 0;
    let failed: Result<(), Error> = cache.retrying().transact(|| {
        runs += 1;
        cache.set("gone", &1)?;
        Err(Error::NotFound)
    });
    assert!(matches!(failed, Err(Error::NotFound)));
    assert_eq!(runs, 1);
    assert!(!cache.contains("gone")?);
    Ok(())
}
