//! `cache.db` replaced under an open handle (a fresh cache renamed over
//! it): every kind of write notices inside its transaction. The first
//! write after the change fails and changes nothing anywhere; the next
//! one acts on the cache now at the path. No write answers as if it had
//! acted on the file nobody sees any more.

use std::path::Path;
use std::time::Duration;

use diskcache_shard::{Cache, SetOptions, Side};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// What every cache here holds: `n`, two entries tagged `t`, one queue
/// item and two entries that expire at once.
fn fill(cache: &Cache, n: i64, item: &str) -> Res {
    cache.set("n", &n)?;
    let tagged = SetOptions::new().tag("t");
    cache.set_with("a", &1, &tagged)?;
    cache.set_with("b", &2, &tagged)?;
    cache.push(&item, Some("q"), Side::Back)?;
    let soon = SetOptions::new().expire(Duration::from_millis(30));
    cache.set_with("e1", &1, &soon)?;
    cache.set_with("e2", &2, &soon)?;
    Ok(())
}

/// A handle on a cache holding n = 1 whose `cache.db` is then replaced by
/// one holding n = 100.
fn replaced(dir: &Path) -> Res<Cache> {
    let old = Cache::open(dir.join("cache"))?;
    fill(&old, 1, "old-item")?;
    let fresh = Cache::open(dir.join("fresh"))?;
    fill(&fresh, 100, "new-item")?;
    fresh.close()?;
    // The old cache's log copied back and emptied, so that the new file
    // is read as it is (a log left beside it would be replayed onto it).
    let db = rusqlite::Connection::open(dir.join("cache/cache.db"))?;
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(db);
    // Past the expiry of `e1` and `e2`.
    std::thread::sleep(Duration::from_millis(40));
    std::fs::rename(dir.join("fresh/cache.db"), dir.join("cache/cache.db"))?;
    Ok(old)
}

/// The cache at the path, seen by a new handle.
fn at_path(dir: &Path) -> Res<Cache> {
    Ok(Cache::open(dir.join("cache"))?)
}

/// Runs `op` twice on a replaced handle: the first must fail and leave the
/// cache at the path as it was; the second's answer is returned.
fn twice<T: std::fmt::Debug>(
    name: &str,
    op: impl Fn(&Cache) -> diskcache_shard::Result<T>,
) -> Res<(T, Cache, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let handle = replaced(dir.path())?;
    let first = op(&handle);
    assert!(
        first.is_err(),
        "{name} acted on the replaced file: {first:?}"
    );
    let path = at_path(dir.path())?;
    assert_eq!(path.get::<i64>("n")?, Some(100), "{name}");
    assert_eq!(path.len()?, 6, "{name}");
    let second = op(&handle)?;
    Ok((second, at_path(dir.path())?, dir))
}

#[test]
fn incr_after_a_replacement_counts_in_the_new_file() -> Res {
    let (n, path, _dir) = twice("incr", |c| c.incr("n", 1, Some(0)))?;
    assert_eq!(n, 101);
    assert_eq!(path.get::<i64>("n")?, Some(101));
    Ok(())
}

#[test]
fn delete_touch_and_pop_after_a_replacement_act_on_the_new_file() -> Res {
    let (deleted, path, _dir) = twice("delete", |c| c.delete("n"))?;
    assert!(deleted);
    assert_eq!(path.get::<i64>("n")?, None);
    let (touched, path, _dir) = twice("touch", |c| c.touch("n", Some(Duration::from_secs(60))))?;
    assert!(touched);
    assert!(
        path.get_entry::<i64>("n")?
            .ok_or("n")?
            .expire_time
            .is_some()
    );
    let (popped, path, _dir) = twice("pop", |c| c.pop::<i64>("n"))?;
    assert_eq!(popped, Some(100));
    assert!(!path.contains("n")?);
    Ok(())
}

#[test]
fn pull_after_a_replacement_takes_the_new_files_item() -> Res {
    let (pulled, path, _dir) = twice("pull", |c| c.pull::<String>(Some("q"), Side::Front))?;
    assert_eq!(pulled.map(|(_, v)| v).as_deref(), Some("new-item"));
    assert_eq!(path.pull::<String>(Some("q"), Side::Front)?, None);
    Ok(())
}

#[test]
fn bulk_writes_after_a_replacement_count_the_new_files_entries() -> Res {
    let (evicted, path, _dir) = twice("evict", |c| c.evict("t"))?;
    assert_eq!(evicted, 2);
    assert!(!path.contains("a")?);
    let (expired, _, _dir) = twice("expire", Cache::expire)?;
    assert_eq!(expired, 2);
    let (cleared, path, _dir) = twice("clear", Cache::clear)?;
    assert_eq!(cleared, 6);
    assert_eq!(path.len()?, 0);
    let (_, path, _dir) = twice("set", |c| c.set("n", &7))?;
    assert_eq!(path.get::<i64>("n")?, Some(7));
    Ok(())
}
