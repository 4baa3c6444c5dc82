//! Culling keeps the volume near the size limit, in policy order.

use diskcache_shard::{Cache, EvictionPolicy};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn volume_stays_near_the_limit_under_a_stream_of_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let limit = 2u64 << 20;
    let cache = Cache::builder()
        .size_limit(limit)
        .min_file_size(4096)
        .open(dir.path())?;
    let mut peak = 0;
    for i in 0..2000u32 {
        // A mix of inline and file-backed values: ~20 MB written in all.
        let size = if i % 4 == 0 { 30_000 } else { 1000 };
        cache.set(&i, &vec![1u8; size])?;
        peak = peak.max(cache.volume()?);
    }
    let volume = cache.volume()?;
    assert!(
        volume <= limit + limit / 4,
        "volume {volume} over limit {limit}"
    );
    assert!(peak <= limit + limit / 2, "peak {peak} over limit {limit}");
    assert!(cache.len()? < 2000);
    assert!(
        cache.get::<Vec<u8>>(&1999u32)?.is_some(),
        "the newest entry survives"
    );
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

fn filled(
    policy: EvictionPolicy,
) -> Result<(tempfile::TempDir, Cache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .eviction_policy(policy)
        .cull_limit(0)
        .open(dir.path())?;
    for i in 0..20 {
        cache.set(&i, &vec![0u8; 1000])?;
    }
    Ok((dir, cache))
}

/// Reopens with every entry over the limit and two culled per write, then
/// writes one entry: the two first in policy order go.
fn cull_two(
    cache: &Cache,
    dir: &std::path::Path,
    policy: EvictionPolicy,
) -> Result<Cache, Box<dyn std::error::Error>> {
    cache.stats()?; // writes this handle's pending access records
    let small = Cache::builder()
        .eviction_policy(policy)
        .size_limit(0)
        .cull_limit(2)
        .open(dir)?;
    small.set("new", &0)?;
    assert_eq!(small.len()?, 19);
    Ok(small)
}

#[test]
fn least_recently_stored_evicts_the_oldest() -> TestResult {
    let (dir, cache) = filled(EvictionPolicy::LeastRecentlyStored)?;
    let small = cull_two(&cache, dir.path(), EvictionPolicy::LeastRecentlyStored)?;
    assert!(!small.contains(&0)? && !small.contains(&1)?);
    assert!(small.contains(&2)? && small.contains(&19)?);
    Ok(())
}

#[test]
fn least_recently_used_keeps_what_was_read() -> TestResult {
    let (dir, cache) = filled(EvictionPolicy::LeastRecentlyUsed)?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    for _ in 0..3 {
        cache.get::<Vec<u8>>(&0)?;
        cache.get::<Vec<u8>>(&1)?;
    }
    let small = cull_two(&cache, dir.path(), EvictionPolicy::LeastRecentlyUsed)?;
    assert!(
        small.contains(&0)? && small.contains(&1)?,
        "read entries were evicted"
    );
    assert!(
        !small.contains(&2)? && !small.contains(&3)?,
        "the least recently used entries survived"
    );
    assert!(small.contains(&4)?);
    Ok(())
}

#[test]
fn least_frequently_used_keeps_what_is_read_often() -> TestResult {
    let (dir, cache) = filled(EvictionPolicy::LeastFrequentlyUsed)?;
    for i in 0..20 {
        if i != 7 && i != 8 {
            cache.get::<Vec<u8>>(&i)?;
        }
    }
    let small = cull_two(&cache, dir.path(), EvictionPolicy::LeastFrequentlyUsed)?;
    assert!(
        !small.contains(&7)? && !small.contains(&8)?,
        "never-read entries survived"
    );
    assert!(small.contains(&0)?);
    Ok(())
}

#[test]
fn a_write_never_evicts_its_own_entry_under_lfu() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .eviction_policy(EvictionPolicy::LeastFrequentlyUsed)
        .size_limit(0)
        .open(dir.path())?;
    for i in 0..30 {
        cache.set(&i, &i)?;
        assert_eq!(cache.get::<i32>(&i)?, Some(i), "set {i} evicted itself");
    }
    Ok(())
}

#[test]
fn policy_none_never_evicts_by_size() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .eviction_policy(EvictionPolicy::None)
        .size_limit(0)
        .open(dir.path())?;
    for i in 0..50 {
        cache.set(&i, &i)?;
    }
    assert_eq!(cache.cull()?, 0);
    assert_eq!(cache.len()?, 50);
    Ok(())
}
