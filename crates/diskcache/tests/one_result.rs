//! A program that uses every handle of the facade (Cache, FanoutCache,
//! Deque, Index, the recipes) with one `Result` type and `?` throughout.

use std::error::Error as _;
use std::path::Path;
use std::time::Duration;

use diskcache::recipes::{Averager, BoundedSemaphore, Lock, Memo, RLock, Stampede, Throttle};
use diskcache::{
    Cache, Deque, DiskCache, Error, FanoutCache, Index, Named, Result, SetOptions, Side,
};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))
}

/// Touches every kind of handle; each `?` converts into `diskcache::Error`.
fn work(dir: &Path) -> Result<u64> {
    let cache = Cache::open(dir.join("single"))?;
    let fanout = FanoutCache::builder().shards(4).open(dir.join("fanout"))?;
    cache.set("k", &1)?;
    assert!(fanout.set("k", &2)?);
    cache.set_with("t", "x", &SetOptions::new().expire(Duration::from_secs(60)))?;
    fanout.push(&"job", Some("jobs"), Side::Back)?;

    let deque: Deque<String> = fanout.deque("d")?;
    deque.append(&"a".to_string())?;
    let index: Index<String, u64> = Index::open(dir.join("index"))?;
    index.insert(&"one".to_string(), &1)?;

    let memo = Memo::new(fanout.clone(), "square");
    let nine: u64 = memo.get_or_compute(&3u64, || 9)?;
    let stampede = Stampede::new(Memo::new(cache.clone(), "s").expire(Duration::from_secs(60)));
    let four: u64 = stampede.get_or_compute(&2u64, || 4)?;
    let lock = Lock::new(cache.clone(), "lock");
    let guard = lock.acquire_timeout(Duration::from_secs(5))?;
    guard.release()?;
    let rlock = RLock::new(fanout.clone(), "rlock");
    drop(rlock.acquire()?);
    let sem = BoundedSemaphore::new(cache.clone(), "sem", 1);
    drop(sem.acquire()?);
    let avg = Averager::new(fanout.clone(), "avg");
    avg.add(1.0)?;
    let throttle = Throttle::new(cache.clone(), "thr", 100, Duration::from_secs(1))?;
    throttle.acquire()?;
    fanout.transact(|| {
        fanout.set("in-txn", &true)?;
        Ok::<_, Error>(())
    })?;

    // The shared trait: the same calls, the same Result, on both.
    fn bump(c: &impl DiskCache) -> Result<u64> {
        let n = c.update("bumps", |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
        Ok(n.unwrap_or(0) + c.get_or_insert_with("seed", || 1u64)?)
    }
    let bumped = bump(&cache)? + bump(&fanout)?;

    Ok(nine + four + bumped + deque.len()? + index.len()? + fanout.len()? + cache.len()?)
}

#[test]
fn one_result_type_for_every_handle() -> Result<()> {
    let dir = tempdir()?;
    // 9 + 4 + 1 deque + 1 index; fanout: k, jobs item, square, rlock
    // released (gone), avg, in-txn; cache: k, t, s, thr.
    let total = work(dir.path())?;
    assert!(total > 13, "{total}");
    Ok(())
}

#[test]
fn kinds_are_told_apart_with_their_context() -> Result<()> {
    let dir = tempdir()?;
    let cache = Cache::open(dir.path().join("c"))?;

    // Not found, from a counter without a default.
    assert!(matches!(cache.incr("n", 1, None), Err(Error::NotFound)));
    // Type mismatch.
    cache.set("text", "abc")?;
    assert!(matches!(
        cache.get::<i64>("text"),
        Err(Error::TypeMismatch { .. })
    ));

    // A fanout layout disagreement names the directory.
    let fan_dir = dir.path().join("f");
    FanoutCache::builder().shards(2).open(&fan_dir)?;
    let err = FanoutCache::builder().shards(3).open(&fan_dir).err();
    let Some(Error::Layout { path, .. }) = &err else {
        panic!("not a layout error: {err:?}");
    };
    assert!(path.ends_with("f"));
    assert!(err.as_ref().is_some_and(|e| e.to_string().contains("f")));

    // A recipe's wait names what it waited for and is a timeout.
    let lock = Lock::new(cache.clone(), "busy");
    let _held = lock.acquire()?;
    let err = lock.acquire_timeout(Duration::from_millis(5)).err();
    assert!(matches!(&err, Some(Error::WaitTimeout { name, .. }) if name == "busy"));
    assert!(err.as_ref().is_some_and(Error::is_timeout));
    assert!(err.is_some_and(|e| e.to_string().contains("busy")));

    // An I/O error carries its path.
    let err = Deque::<u8>::open(dir.path().join("c").join("cache.db")).err();
    assert!(
        matches!(err.as_ref().map(Error::root), Some(Error::Io { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn sqlite_errors_are_opaque_with_their_source() -> Result<()> {
    let dir = tempdir()?;
    std::fs::write(dir.path().join("cache.db"), vec![b'x'; 8192])
        .map_err(|e| Error::io(dir.path(), e))?;
    let err = Cache::open(dir.path()).err();
    let Some(Error::Sqlite { message, code, .. }) = err.as_ref().map(Error::root) else {
        panic!("not a SQLite error: {err:?}");
    };
    assert_eq!(*code, Some(26), "SQLITE_NOTADB");
    assert!(!message.is_empty());
    // The open error names the directory; SQLite's own error is the
    // source of the source.
    let open = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(open.contains(&dir.path().display().to_string()), "{open}");
    let inner = err
        .as_ref()
        .and_then(|e| e.source())
        .and_then(|e| e.source());
    assert!(inner.is_some());
    Ok(())
}
