//! `pop_entry`, `pull_entry` and `peek_entry` on a FanoutCache: forwarded
//! to the key's (or the queue's) shard, and a miss while that shard's
//! write lock is held longer than the timeout, as the other per-key calls.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use diskcache_fanout::FanoutCache;
use diskcache_shard::{CacheBuilder, Key, SetOptions, Side};

type Res = Result<(), Box<dyn std::error::Error>>;

fn open(dir: &std::path::Path) -> Result<FanoutCache, Box<dyn std::error::Error>> {
    Ok(FanoutCache::builder()
        .shards(4)
        .cache(CacheBuilder::new().timeout(Duration::from_millis(10)))
        .open(dir)?)
}

#[test]
fn entries_come_from_the_right_shard() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    let opts = SetOptions::new().expire(Duration::from_secs(60)).tag("t");
    for i in 0..20 {
        assert!(cache.set_with(&i, &(i * 10), &opts)?);
    }
    for i in 0..20 {
        let entry = cache.pop_entry::<i64>(&i)?.ok_or("missing")?;
        assert_eq!(entry.value, i * 10);
        assert_eq!(entry.tag, Some(Key::Text("t".into())));
        assert!(entry.expire_time.is_some());
    }
    assert_eq!(cache.len()?, 0);

    cache.push_with(&"a", Some("jobs"), Side::Back, &opts)?;
    cache.push(&"b", Some("jobs"), Side::Back)?;
    let (_, back) = cache
        .peek_entry::<String>(Some("jobs"), Side::Back)?
        .ok_or("empty")?;
    assert_eq!((back.value.as_str(), back.tag), ("b", None));
    let (key, front) = cache
        .pull_entry::<String>(Some("jobs"), Side::Front)?
        .ok_or("empty")?;
    assert_eq!(key, Key::Text("jobs-500000000000000".into()));
    assert_eq!(
        (front.value.as_str(), front.tag),
        ("a", Some(Key::Text("t".into())))
    );
    assert!(front.expire_time.is_some());
    Ok(())
}

#[test]
fn a_locked_shard_is_a_miss() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = open(dir.path())?;
    assert!(cache.set("k", &1)?);
    cache.push(&"job", Some("q"), Side::Back)?;
    for shard in [cache.shard_for("k")?, cache.shard_for("q")?] {
        let db: PathBuf = shard.directory().join("cache.db");
        let (locked, wait) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || -> rusqlite::Result<()> {
            let conn = rusqlite::Connection::open(db)?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let _ = locked.send(());
            let _ = released.recv_timeout(Duration::from_secs(10));
            conn.execute_batch("COMMIT")
        });
        wait.recv_timeout(Duration::from_secs(10))?;
        if shard.directory() == cache.shard_for("k")?.directory() {
            assert!(cache.pop_entry::<i64>("k")?.is_none());
        }
        if shard.directory() == cache.shard_for("q")?.directory() {
            assert!(
                cache
                    .pull_entry::<String>(Some("q"), Side::Front)?
                    .is_none()
            );
            assert!(
                cache
                    .peek_entry::<String>(Some("q"), Side::Front)?
                    .is_none()
            );
        }
        release.send(())?;
        holder.join().map_err(|_| "holder panicked")??;
    }
    // Nothing was taken while locked.
    assert_eq!(cache.pop_entry::<i64>("k")?.map(|e| e.value), Some(1));
    let pulled = cache.pull_entry::<String>(Some("q"), Side::Front)?;
    assert_eq!(pulled.map(|(_, e)| e.value).as_deref(), Some("job"));
    Ok(())
}
