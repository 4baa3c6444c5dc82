//! Operations over every shard with a short timeout while another
//! connection holds one shard's write lock for longer than that: they wait
//! the busy shard out and finish on every shard, with whole counts.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diskcache_fanout::{Error, FanoutCache};
use diskcache_shard::{CacheBuilder, SetOptions};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// How long the other connection holds the lock: 30 timeouts.
const HOLD: Duration = Duration::from_millis(300);

/// Four shards, a 10 ms timeout (python-diskcache's default), and writes
/// that do not cull (so that expired entries stay for `expire`).
fn open(dir: &Path) -> Res<FanoutCache> {
    Ok(FanoutCache::builder()
        .shards(4)
        .cache(
            CacheBuilder::new()
                .timeout(Duration::from_millis(10))
                .cull_limit(0),
        )
        .open(dir)?)
}

/// Holds the write lock of the shard in `shard` (`BEGIN IMMEDIATE` on its
/// `cache.db`, from another connection and thread) for [`HOLD`]; returns
/// once the lock is held.
fn hold(shard: &Path) -> Res<JoinHandle<rusqlite::Result<()>>> {
    let db: PathBuf = shard.join("cache.db");
    let (locked, wait) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let _ = locked.send(());
        std::thread::sleep(HOLD);
        conn.execute_batch("COMMIT")
    });
    wait.recv_timeout(Duration::from_secs(10))?;
    Ok(holder)
}

fn join(holder: JoinHandle<rusqlite::Result<()>>) -> Res {
    holder.join().map_err(|_| "the holder panicked")??;
    Ok(())
}

/// `n` entries, spread over every shard (each shard gets some).
fn fill(cache: &FanoutCache, n: i64, opts: &SetOptions) -> Res {
    for i in 0..n {
        assert!(cache.set_with(&i, &i, opts)?);
    }
    for shard in cache.shards() {
        assert!(shard.len()? > 0, "a shard got no entries");
    }
    Ok(())
}

#[test]
fn clear_waits_out_a_busy_shard_and_counts_every_entry() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    fill(&cache, 250, &SetOptions::new())?;
    let holder = hold(cache.shards()[1].directory())?;
    let started = Instant::now();
    let cleared = cache.clear();
    let took = started.elapsed();
    join(holder)?;
    assert_eq!(cleared?, 250);
    assert!(
        took >= HOLD / 2,
        "did not wait for the busy shard: {took:?}"
    );
    assert_eq!(cache.len()?, 0);
    Ok(())
}

#[test]
fn clear_of_many_batches_counts_every_entry() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    fill(&cache, 1200, &SetOptions::new())?;
    let holder = hold(cache.shards()[2].directory())?;
    let cleared = cache.clear();
    join(holder)?;
    assert_eq!(cleared?, 1200);
    assert_eq!(cache.len()?, 0);
    Ok(())
}

#[test]
fn expire_evict_and_cull_wait_out_a_busy_shard() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    fill(
        &cache,
        120,
        &SetOptions::new().expire(Duration::from_millis(1)),
    )?;
    for i in 1000..1150 {
        assert!(cache.set_with(&i, &i, &SetOptions::new().tag("batch"))?);
    }
    for i in 2000..2080 {
        assert!(cache.set(&i, &i)?);
    }
    std::thread::sleep(Duration::from_millis(20));

    let holder = hold(cache.shards()[0].directory())?;
    let expired = cache.expire();
    join(holder)?;
    assert_eq!(expired?, 120);

    let holder = hold(cache.shards()[3].directory())?;
    let evicted = cache.evict("batch");
    join(holder)?;
    assert_eq!(evicted?, 150);

    cache.set_size_limit(0)?;
    let holder = hold(cache.shards()[2].directory())?;
    let culled = cache.cull();
    join(holder)?;
    assert_eq!(culled?, 80);
    assert_eq!(cache.len()?, 0);
    Ok(())
}

#[test]
fn setting_changes_reach_every_shard_past_a_busy_one() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    let holder = hold(cache.shards()[2].directory())?;
    let changed = cache.set_size_limit(64 << 20);
    join(holder)?;
    changed?;
    let holder = hold(cache.shards()[0].directory())?;
    let changed = cache
        .set_cull_limit(3)
        .and_then(|()| cache.set_statistics(true));
    join(holder)?;
    changed?;
    // As every handle sees them, and as stored.
    let again = FanoutCache::open(dir.path())?;
    for shards in [cache.shards(), again.shards()] {
        for shard in shards {
            let s = shard.settings();
            let got = (s.size_limit, s.cull_limit, s.statistics);
            assert_eq!(got, (16 << 20, 3, true));
        }
    }
    Ok(())
}

#[test]
fn a_transaction_waits_for_a_busy_shard() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    let holder = hold(cache.shards()[3].directory())?;
    let mut runs = 0;
    let done = cache.transact(|| {
        runs += 1;
        for i in 0..40 {
            cache.set(&i, &i)?;
        }
        Ok::<_, Error>(())
    });
    join(holder)?;
    done?;
    assert_eq!(runs, 1);
    assert_eq!(cache.len()?, 40);
    Ok(())
}

#[test]
fn an_error_other_than_a_timeout_is_returned() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    let holder = hold(cache.shards()[1].directory())?;
    let refused = cache.set_cull_limit(u64::MAX);
    join(holder)?;
    let err = refused.err().ok_or("accepted")?;
    assert!(!err.is_timeout(), "{err:?}");
    assert!(matches!(err, Error::InvalidInput { .. }));
    Ok(())
}
