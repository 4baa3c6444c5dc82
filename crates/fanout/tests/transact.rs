//! A transaction over every shard: atomic across shards, no deadlock
//! between two of them.

use diskcache_fanout::{Error, FanoutCache};

#[test]
fn a_failed_transaction_changes_no_shard() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder().shards(4).open(dir.path())?;
    cache.set("keep", &1)?;
    let failed: Result<(), Error> = cache.transact(|| {
        for i in 0..40 {
            cache.set(&i, &i)?;
        }
        cache.delete("keep")?;
        Err(Error::InvalidName {
            name: "abort".into(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(cache.len()?, 1);
    assert_eq!(cache.get::<i32>("keep")?, Some(1));
    Ok(())
}

#[test]
fn concurrent_transactions_over_all_shards_do_not_deadlock()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder().shards(4).open(dir.path())?;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || -> Result<(), Error> {
                for _ in 0..50 {
                    cache.transact(|| {
                        // Read-modify-write of keys on several shards.
                        for k in ["a", "b", "c", "d", "e"] {
                            let n = cache.get::<i64>(k)?.unwrap_or(0);
                            cache.set(k, &(n + 1))?;
                        }
                        Ok::<_, Error>(())
                    })?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    for k in ["a", "b", "c", "d", "e"] {
        assert_eq!(cache.get::<i64>(k)?, Some(100), "{k}");
    }
    Ok(())
}
