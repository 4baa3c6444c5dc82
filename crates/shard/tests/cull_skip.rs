//! A write skips its cull's query only when the query could not find
//! anything to do: a cache that skips (the default) and one that always
//! queries (the memo off, which also turns the skipping off) given the
//! same writes end every write with the same volume and the same entries.

use std::time::Duration;

use diskcache_shard::{Cache, SetOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Two caches with the same settings: `.0` skips, `.1` always queries.
fn twins(limit: u64) -> Result<(tempfile::TempDir, Cache, Cache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let open = |name: &str, memo: usize| {
        Cache::builder()
            .size_limit(limit)
            .min_file_size(4096)
            .memo_bytes(memo)
            .open(dir.path().join(name))
    };
    let skipping = open("skipping", 4 << 20)?;
    let querying = open("querying", 0)?;
    Ok((dir, skipping, querying))
}

#[test]
fn skipped_culls_leave_the_same_volume_as_queried_ones() -> TestResult {
    let (_dir, skipping, querying) = twins(1 << 20)?;
    for i in 0..1500u32 {
        // Inline and file-backed values, some keys written again.
        let size = if i % 5 == 0 { 20_000 } else { 700 };
        let key = i % 1100;
        for cache in [&skipping, &querying] {
            cache.set(&key, &vec![7u8; size])?;
        }
        assert_eq!(skipping.volume()?, querying.volume()?, "after write {i}");
        assert_eq!(skipping.len()?, querying.len()?, "after write {i}");
    }
    assert!(skipping.volume()? <= (1 << 20) + (1 << 18));
    Ok(())
}

#[test]
fn writes_far_under_the_limit_skip_their_culls() -> TestResult {
    let (_dir, skipping, querying) = twins(1 << 30)?;
    for i in 0..300u32 {
        for cache in [&skipping, &querying] {
            cache.set(&(i % 100), &vec![1u8; 500])?;
        }
    }
    let skipped = skipping.counters().cull_skips;
    assert!(skipped >= 290, "only {skipped} of 300 culls skipped");
    assert_eq!(querying.counters().cull_skips, 0);
    assert_eq!(skipping.volume()?, querying.volume()?);
    Ok(())
}

#[test]
fn the_first_write_after_an_expiry_culls_the_expired_entry() -> TestResult {
    let (_dir, skipping, querying) = twins(1 << 30)?;
    let soon = SetOptions::new().expire(Duration::from_millis(250));
    for cache in [&skipping, &querying] {
        cache.set_with("soon", &1, &soon)?;
        for i in 0..50 {
            cache.set(&i, &i)?;
        }
    }
    // (The expiry leaves a loaded machine time for the 100 writes.)
    assert_eq!(skipping.len()?, 51);
    std::thread::sleep(Duration::from_millis(300));
    for cache in [&skipping, &querying] {
        cache.set("next", &2)?;
    }
    // "soon" expired: the write after culled it.
    assert_eq!(skipping.len()?, 51);
    assert_eq!(querying.len()?, 51);
    Ok(())
}
