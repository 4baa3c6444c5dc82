//! `limit` stores a new size limit, split over a fanout cache's shards; a
//! process with the cache open uses it from its next call a second on.

mod common;

use std::time::Duration;

use common::{TestResult, diskcache};
use diskcache::{Cache, FanoutCache};

#[test]
fn a_new_limit_reaches_every_shard_and_open_handles() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fanout = FanoutCache::builder().shards(4).open(dir.path())?;
    let done = diskcache("limit", dir.path(), &["8M"])?;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.text()
            .starts_with("size limit 8388608 bytes: 2097152 in each of 4 shards\n"),
        "{}",
        done.text()
    );
    drop(fanout);
    for shard in FanoutCache::open(dir.path())?.shards() {
        assert_eq!(shard.settings().size_limit, 2 << 20);
    }

    let bad = diskcache("limit", dir.path(), &["8 parsecs"])?;
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("is not a size"), "{}", bad.stderr);

    // A single cache, open in this process while the command runs.
    let single = tempfile::tempdir()?;
    let cache = Cache::open(single.path())?;
    for i in 0..30 {
        cache.set(&i, &vec![0u8; 1000])?;
    }
    assert_eq!(diskcache("limit", single.path(), &["0"])?.code, Some(0));
    std::thread::sleep(Duration::from_millis(1100));
    cache.set("next", &1)?;
    assert_eq!(cache.settings().size_limit, 0);
    assert_eq!(
        cache.len()?,
        31 - 10,
        "the write culled up to the cull limit"
    );
    Ok(())
}
