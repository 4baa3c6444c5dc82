//! A shard whose database another connection holds with
//! `locking_mode=EXCLUSIVE` cannot even be connected to: per-key calls on
//! the fanout still honour the timeout, answering a miss or "not stored"
//! (python-diskcache returns a miss after about its timeout), instead of
//! waiting seconds for a connection.

use std::time::{Duration, Instant};

use diskcache_fanout::FanoutCache;
use diskcache_shard::CacheBuilder;

#[test]
fn a_shard_nobody_can_connect_to_is_a_miss_within_the_timeout()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let open = || {
        FanoutCache::builder()
            .shards(2)
            .cache(CacheBuilder::new().timeout(Duration::from_millis(10)))
            .open(dir.path())
    };
    {
        let cache = open()?;
        assert!(cache.set("k", &1)?);
    }
    // A fresh handle, so that it has no connection to the shard yet.
    let cache = open()?;
    let shard = cache.shard_for("k")?.directory().join("cache.db");
    let holder = rusqlite::Connection::open(&shard)?;
    holder.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")?;
    let started = Instant::now();
    assert_eq!(cache.get::<i64>("k")?, None);
    assert!(!cache.set("k", &2)?, "stored into a shard held exclusively");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    holder.execute_batch("COMMIT; PRAGMA locking_mode = NORMAL;")?;
    drop(holder);
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    Ok(())
}
