//! The single-cache API through a FanoutCache: routing, sums, iteration,
//! queues, tags, maintenance and named caches.

use std::collections::HashSet;
use std::time::Duration;

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Key, SetOptions, Side};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn keys_spread_over_shards_and_every_operation_routes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder().shards(4).open(dir.path())?;
    for i in 0..400i64 {
        assert!(cache.set(&i, &(i * 2))?);
    }
    let per_shard: Vec<u64> = cache
        .shards()
        .iter()
        .map(|s| s.len())
        .collect::<Result<_, _>>()?;
    assert!(
        per_shard.iter().all(|&n| n > 50),
        "uneven spread: {per_shard:?}"
    );
    assert_eq!(cache.len()?, 400);
    for i in 0..400i64 {
        assert_eq!(cache.get::<i64>(&i)?, Some(i * 2));
    }
    assert!(cache.add(&1000, &1)? && !cache.add(&1000, &2)?);
    assert!(cache.contains(&1000)?);
    assert!(cache.touch(&1000, Some(Duration::from_secs(60)))?);
    assert!(
        cache
            .get_entry::<i64>(&1000)?
            .ok_or("missing")?
            .expire_time
            .is_some()
    );
    assert_eq!(cache.pop::<i64>(&1000)?, Some(1));
    assert!(cache.delete(&0)? && !cache.delete(&0)?);
    assert_eq!(cache.incr("c", 5, Some(0))?, Some(5));
    assert_eq!(cache.decr("c", 1, None)?, Some(4));
    let n = cache.set_reader(
        "big",
        &mut vec![1u8; 100_000].as_slice(),
        &SetOptions::new(),
    )?;
    assert_eq!(n, Some(100_000));
    assert!(cache.read("big")?.ok_or("missing")?.is_mapped());

    let keys: Vec<Key> = cache.keys().collect::<Result<_, _>>()?;
    let unique: HashSet<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    assert_eq!(keys.len() as u64, cache.len()?);
    assert_eq!(unique.len(), keys.len(), "a key was visited twice");
    assert_eq!(cache.keys_rev().count(), keys.len());
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

#[test]
fn queues_tags_expiry_and_maintenance_over_shards() -> TestResult {
    let dir = tempfile::tempdir()?;
    // No culling on write, so that expire() finds every expired entry.
    let cache = FanoutCache::builder()
        .shards(3)
        .cache(diskcache_shard::CacheBuilder::new().cull_limit(0))
        .open(dir.path())?;
    for i in 0..5 {
        cache.push(&i, Some("q"), Side::Back)?;
    }
    assert_eq!(
        cache.peek::<i32>(Some("q"), Side::Back)?.map(|x| x.1),
        Some(4)
    );
    let mut pulled = Vec::new();
    while let Some((_, v)) = cache.pull::<i32>(Some("q"), Side::Front)? {
        pulled.push(v);
        assert!(pulled.len() <= 5);
    }
    assert_eq!(
        pulled,
        vec![0, 1, 2, 3, 4],
        "a queue keeps its order in one shard"
    );

    for i in 0..60 {
        cache.set_with(
            &i,
            &i,
            &SetOptions::new().tag(if i % 2 == 0 { "even" } else { "odd" }),
        )?;
    }
    cache.create_tag_index()?;
    assert_eq!(cache.evict("even")?, 30);
    for i in 100..110 {
        cache.set_with(&i, &i, &SetOptions::new().expire(Duration::ZERO))?;
    }
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(cache.expire()?, 10);
    cache.set_statistics(true)?;
    cache.get::<i32>(&1)?;
    cache.get::<i32>(&2)?;
    let stats = cache.stats()?;
    assert_eq!((stats.hits, stats.misses), (1, 1));
    assert_eq!(cache.clear()?, 30);
    assert!(cache.is_empty()?);
    assert!(cache.volume()? > 0);
    Ok(())
}

#[test]
fn the_size_limit_is_split_and_each_shard_culls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let limit = 4u64 << 20;
    let cache = FanoutCache::builder()
        .shards(4)
        .size_limit(limit)
        .open(dir.path())?;
    for shard in cache.shards() {
        assert_eq!(shard.settings().size_limit, limit / 4);
    }
    for i in 0..1500u32 {
        cache.set(&i, &vec![0u8; 20_000])?;
    }
    let volume = cache.volume()?;
    assert!(volume <= limit + limit / 4, "volume {volume} over {limit}");

    // Halved while open: split again, and a cull brings every shard under.
    cache.set_size_limit(limit / 2)?;
    cache.cull()?;
    let volume = cache.volume()?;
    assert!(volume <= limit / 2, "volume {volume} over {}", limit / 2);
    drop(cache);
    let reopened = FanoutCache::open(dir.path())?;
    for shard in reopened.shards() {
        assert_eq!(shard.settings().size_limit, limit / 8);
    }
    Ok(())
}

#[test]
fn named_caches_live_under_the_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::open(dir.path())?;
    let sessions = cache.cache("web/sessions")?;
    sessions.set("s", &1)?;
    assert!(
        dir.path()
            .join("cache")
            .join("web")
            .join("sessions")
            .join("cache.db")
            .exists()
    );
    assert!(!cache.contains("s")?, "a named cache is separate");
    assert!(cache.cache("../escape").is_err());
    assert!(cache.cache("/abs").is_err());
    Ok(())
}
