//! A fanout cache, ours and one laid out as python-diskcache lays its
//! shards (no `fanout.cfg`): the commands reach every shard.

mod common;

use std::time::Duration;

use common::{TestResult, diskcache};
use diskcache::{Cache, FanoutCache, Named, SetOptions};

#[test]
fn commands_reach_every_shard() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder().shards(4).open(dir.path())?;
    let tagged = SetOptions::new().tag("batch");
    for i in 0..40 {
        cache.set(&i, &format!("value {i}"))?;
        cache.set_with(&format!("tagged-{i}"), &i, &tagged)?;
    }
    // Last, so that no later write culls them once expired.
    let soon = SetOptions::new().expire(Duration::from_millis(300));
    for i in 0..40 {
        cache.set_with(&format!("short-{i}"), &i, &soon)?;
    }
    cache.deque::<String>("jobs")?.append(&"one".to_owned())?;
    drop(cache);
    std::thread::sleep(Duration::from_millis(400));

    let info = diskcache("info", dir.path(), &[])?.text();
    assert!(info.contains("fanout cache of 4 shards\n"), "{info}");
    assert!(info.contains("entries     120"), "{info}");
    assert!(info.contains("named       deque/jobs"), "{info}");
    let shard_rows = info.lines().filter(|l| l.starts_with("00")).count();
    assert_eq!(shard_rows, 4, "{info}");

    let json: serde_json::Value =
        serde_json::from_slice(&diskcache("info", dir.path(), &["--json"])?.stdout)?;
    assert_eq!(json["layout"], "fanout");
    assert_eq!(json["fanout_cfg"], true);
    assert_eq!(json["entries"], 120);
    assert_eq!(json["statistics"], serde_json::Value::Null);
    let shards = json["shards"].as_array().ok_or("no shards")?;
    let per_shard: u64 = shards.iter().filter_map(|s| s["entries"].as_u64()).sum();
    assert_eq!((shards.len(), per_shard), (4, 120));
    assert_eq!(json["named"][0], "deque/jobs");

    let keys = diskcache("keys", dir.path(), &[])?.text();
    assert_eq!(keys.lines().count(), 120);
    assert_eq!(
        diskcache("get", dir.path(), &["int:17"])?.text(),
        "value 17"
    );

    let deleted = diskcache("delete", dir.path(), &["int:17"])?;
    assert_eq!(
        (deleted.code, deleted.text()),
        (Some(0), "deleted int:17\n".into())
    );
    let again = diskcache("delete", dir.path(), &["int:17"])?;
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("no entry int:17"), "{}", again.stderr);
    assert_eq!(
        diskcache("expire", dir.path(), &[])?.text(),
        "expired 40 entries\n"
    );
    assert_eq!(
        diskcache("evict", dir.path(), &["batch"])?.text(),
        "evicted 40 entries\n"
    );
    let reopened = FanoutCache::open(dir.path())?;
    assert_eq!(reopened.len()?, 39);
    assert_eq!(reopened.get::<String>(&3)?.as_deref(), Some("value 3"));
    drop(reopened);
    assert_eq!(
        diskcache("clear", dir.path(), &[])?.text(),
        "cleared 39 entries\n"
    );
    assert_eq!(FanoutCache::open(dir.path())?.len()?, 0);
    Ok(())
}

#[test]
fn shard_folders_without_a_record_are_found() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (shard, key) in [("000", "a"), ("001", "b"), ("002", "c")] {
        Cache::open(dir.path().join(shard))?.set(key, shard)?;
    }
    let info = diskcache("info", dir.path(), &[])?.text();
    assert!(info.contains("3 shards (no fanout.cfg"), "{info}");
    assert_eq!(diskcache("keys", dir.path(), &[])?.text(), "a\nb\nc\n");
    assert_eq!(diskcache("get", dir.path(), &["c"])?.text(), "002");
    assert!(!dir.path().join("fanout.cfg").exists());
    Ok(())
}
