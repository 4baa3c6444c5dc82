//! The read memo's shortcuts are taken, as the handle's counters show:
//! repeated reads are answered from memory; the handle's own writes do not
//! empty it (they are accounted for, with the WAL-index header read before
//! each commit); other handles' and processes' writes, and the flush of
//! batched access records when a handle drops, reach it through the commit
//! feed instead of making it start over. Each assertion fails when its
//! shortcut is switched off.

use std::process::Command;

use diskcache_shard::{Cache, EvictionPolicy};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

/// Reads every key in `keys` twice; returns the memo answers it added.
fn read_twice(cache: &Cache, keys: &[&str]) -> Res<u64> {
    let before = cache.counters().memo_answers;
    for _ in 0..2 {
        for key in keys {
            cache.get::<i64>(*key)?;
        }
    }
    Ok(cache.counters().memo_answers - before)
}

#[test]
fn own_writes_keep_the_memo_and_repeated_reads_are_answered_from_it() -> Res {
    let cache = Cache::builder().open_temp()?;
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        cache.set(*key, &(i as i64))?;
    }
    // The first pass fills, the second is answered.
    assert_eq!(read_twice(&cache, &["a", "b", "c"])?, 3);
    for round in 0..20i64 {
        cache.set("a", &round)?;
        assert_eq!(cache.get::<i64>("a")?, Some(round));
        // b and c did not change: answered without SQLite.
        assert_eq!(read_twice(&cache, &["b", "c"])?, 4, "round {round}");
    }
    let counted = cache.counters();
    assert_eq!(counted.memo_restarts, 0, "{counted:?}");
    assert!(counted.feed_records >= 20, "{counted:?}");
    Ok(())
}

#[test]
fn another_process_writes_reach_the_memo_through_the_feed() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("x", &1)?;
    cache.set("y", &1)?;
    assert_eq!(read_twice(&cache, &["x"])?, 1);
    let path = dir.path().to_str().ok_or("path")?;
    for n in 2..6 {
        let status = Command::new(HELPER)
            .args(["set", path, "y", &n.to_string()])
            .status()?;
        assert!(status.success());
        // y changed: read through SQLite; x did not: from memory.
        assert_eq!(cache.get::<i64>("y")?, Some(n));
        assert_eq!(
            read_twice(&cache, &["x"])?,
            2,
            "after write {n}: {:?}",
            cache.counters()
        );
    }
    let counted = cache.counters();
    assert!(counted.memo_catch_ups >= 4, "{counted:?}");
    assert_eq!(counted.memo_restarts, 0, "{counted:?}");
    Ok(())
}

#[test]
fn the_flush_of_a_dropped_handle_is_in_the_feed() -> Res {
    let dir = tempfile::tempdir()?;
    let open = || {
        Cache::builder()
            .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
            .open(dir.path())
    };
    let reader = open()?;
    reader.set("x", &1)?;
    reader.set("y", &2)?;
    let other = Cache::builder()
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .open(dir.path())?;
    assert_eq!(read_twice(&reader, &["x"])?, 1);
    let restarts = reader.counters().memo_restarts;
    // Its read leaves an access record to flush when it drops.
    other.get::<i64>("y")?;
    drop(other);
    assert_eq!(read_twice(&reader, &["x"])?, 2, "{:?}", reader.counters());
    let counted = reader.counters();
    assert_eq!(counted.memo_restarts, restarts, "{counted:?}");
    assert!(counted.memo_catch_ups >= 1, "{counted:?}");
    Ok(())
}
