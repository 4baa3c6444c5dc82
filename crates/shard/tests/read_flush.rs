//! Reads under least-recently-used write their access times in batches.
//! When a batch is due while another connection holds the write lock for a
//! long transaction, the reads do not wait for it (the handle's timeout is
//! 30 s here): the batch is kept and written by a later flush, whole.

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskcache_shard::{Cache, EvictionPolicy};

const KEYS: i64 = 600;

#[test]
fn reads_do_not_wait_for_a_long_transaction() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .timeout(Duration::from_secs(30))
        .open(dir.path())?;
    for i in 0..KEYS {
        cache.set(&format!("k{i}"), &i)?;
    }
    let db = dir.path().join("cache.db");
    let (locked_tx, locked_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || -> rusqlite::Result<bool> {
        let conn = rusqlite::Connection::open(db)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let _ = locked_tx.send(());
        // Held until the reads are done; a read stuck on the lock makes
        // this give up after 20 s.
        let finished = done_rx.recv_timeout(Duration::from_secs(20)).is_ok();
        conn.execute_batch("COMMIT")?;
        Ok(finished)
    });
    locked_rx.recv()?;
    let before = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    // More distinct rows than a batch holds before it is due.
    for i in 0..KEYS {
        assert_eq!(cache.get::<i64>(&format!("k{i}"))?, Some(i));
    }
    let _ = done_tx.send(());
    let finished = holder.join().map_err(|_| "the lock holder panicked")??;
    assert!(finished, "a read waited for the write lock");

    // Nothing was lost: the next flush (statistics ask for one) writes
    // every access.
    cache.stats()?;
    let conn = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    let read: i64 = conn.query_row(
        "SELECT count(*) FROM Cache WHERE access_time >= ?1",
        [before],
        |r| r.get(0),
    )?;
    assert_eq!(read, KEYS);
    Ok(())
}
