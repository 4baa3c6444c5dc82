//! `cache.db` a symbolic link to a database in another folder, with a
//! leftover `cache.db-shm` beside the link. SQLite resolves the link and
//! keeps its WAL index beside the target; the read memo must watch that
//! one, not the stale file beside the link, or it would answer the first
//! value it read forever.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::symlink;

use diskcache_shard::Cache;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[test]
fn a_linked_database_is_read_fresh_by_another_handle() -> Res {
    let elsewhere = tempfile::tempdir()?;
    let dir = tempfile::tempdir()?;
    // The real database, made by a cache in its own folder, whose WAL
    // index is copied beside the link while it is in use.
    let maker = Cache::open(elsewhere.path())?;
    maker.set("key", &-1i64)?;
    symlink(
        elsewhere.path().join("cache.db"),
        dir.path().join("cache.db"),
    )?;
    fs::copy(
        elsewhere.path().join("cache.db-shm"),
        dir.path().join("cache.db-shm"),
    )?;
    let stale = fs::read(dir.path().join("cache.db-shm"))?;

    let writer = Cache::open(dir.path())?;
    let reader = Cache::open(dir.path())?;
    assert_eq!(reader.get::<i64>("key")?, Some(-1));
    let mut fresh = 0;
    for i in 0..10i64 {
        writer.set("key", &i)?;
        // Twice: the second read is the one a memo would answer.
        assert_eq!(reader.get::<i64>("key")?, Some(i), "write {i}");
        if reader.get::<i64>("key")? == Some(i) {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 10, "reads after writes by another handle were stale");
    // The leftover beside the link is not SQLite's: it never changed, and
    // the memo's feed is beside the real database, not beside the link.
    assert_eq!(fs::read(dir.path().join("cache.db-shm"))?, stale);
    assert!(!dir.path().join("cache.db-memo").exists());
    assert!(elsewhere.path().join("cache.db-memo").exists());
    // The other way round: the first handle's memo sees the second's
    // writes.
    assert_eq!(writer.get::<i64>("key")?, Some(9));
    for i in 0..10i64 {
        reader.set("key", &(i + 1000))?;
        assert_eq!(writer.get::<i64>("key")?, Some(i + 1000));
        assert_eq!(writer.get::<i64>("key")?, Some(i + 1000));
    }
    drop((writer, reader, maker));
    Ok(())
}
