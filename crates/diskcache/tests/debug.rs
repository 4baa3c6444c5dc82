//! Every public handle formats with `{:?}` as its directory and settings,
//! never as the connections and state behind it.

use std::time::Duration;

use diskcache::recipes::{Averager, BoundedSemaphore, Lock, Memo, RLock, Stampede, Throttle};
use diskcache::{Cache, Deque, Error, FanoutCache, Index, Keys, QueueIter, Result, Side};

/// A handle's `Debug` form: starts with its type's name, names the
/// directory, shows no internals.
fn check(shown: &str, name: &str, dir: &std::path::Path) {
    assert!(shown.starts_with(name), "{shown}");
    assert!(
        shown.contains(&format!("{:?}", dir.display()).replace('"', "")),
        "{shown}"
    );
    for internal in [
        "conns",
        "pending",
        "checkpointer",
        "headroom",
        "tunables",
        "Arc",
    ] {
        assert!(!shown.contains(internal), "{internal} in {shown}");
    }
}

#[test]
fn every_handle_shows_its_directory_and_settings() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let cache = Cache::builder()
        .size_limit(1 << 20)
        .open(dir.path().join("c"))?;
    let cache_dir = cache.directory().to_path_buf();
    let shown = format!("{cache:?}");
    check(&shown, "Cache {", &cache_dir);
    assert!(shown.contains("size_limit: 1048576"), "{shown}");
    assert!(shown.contains("eviction_policy"), "{shown}");

    let fanout = FanoutCache::builder()
        .shards(2)
        .open(dir.path().join("f"))?;
    let shown = format!("{fanout:?}");
    check(&shown, "FanoutCache {", fanout.directory());
    assert!(shown.contains("shards: 2"), "{shown}");

    let deque: Deque<u8> = Deque::open(dir.path().join("d"))?.with_maxlen(3)?;
    let shown = format!("{deque:?}");
    check(&shown, "Deque {", deque.cache().directory());
    assert!(shown.contains("maxlen: Some(3)"), "{shown}");
    let index: Index<String, u8> = Index::open(dir.path().join("i"))?;
    check(&format!("{index:?}"), "Index {", index.cache().directory());

    let memo = Memo::new(cache.clone(), "square").expire(Duration::from_secs(9));
    let shown = format!("{memo:?}");
    check(&shown, "Memo {", &cache_dir);
    assert!(shown.contains("\"square\""), "{shown}");
    let stampede = Stampede::new(memo);
    check(&format!("{stampede:?}"), "Stampede {", &cache_dir);

    let lock = Lock::new(fanout.clone(), "nightly");
    let shown = format!("{lock:?}");
    check(&shown, "Lock {", fanout.directory());
    assert!(shown.contains("\"nightly\""), "{shown}");
    let guard = lock.acquire()?;
    let shown = format!("{guard:?}");
    assert!(shown.starts_with("Guard { of: Lock {"), "{shown}");
    assert!(shown.contains("released: false"), "{shown}");
    guard.release()?;

    let rlock = RLock::new(cache.clone(), "r");
    check(&format!("{rlock:?}"), "RLock {", &cache_dir);
    let held = rlock.acquire()?;
    assert!(format!("{held:?}").starts_with("Guard { of: RLock {"));
    drop(held);
    let sem = BoundedSemaphore::new(cache.clone(), "s", 4);
    let shown = format!("{sem:?}");
    check(&shown, "BoundedSemaphore {", &cache_dir);
    assert!(shown.contains("value: 4"), "{shown}");
    let avg = Averager::new(cache.clone(), "a");
    check(&format!("{avg:?}"), "Averager {", &cache_dir);
    let throttle = Throttle::new(cache.clone(), "t", 5, Duration::from_secs(1))?;
    let shown = format!("{throttle:?}");
    check(&shown, "Throttle {", &cache_dir);
    assert!(shown.contains("count: 5"), "{shown}");

    // The shard's iterators, reachable by name from the facade.
    let keys: Keys = cache.keys();
    check(&format!("{keys:?}"), "Keys {", &cache_dir);
    let items: QueueIter<u8> = cache.queue_iter(None, Side::Front);
    check(&format!("{items:?}"), "QueueIter {", &cache_dir);
    Ok(())
}
