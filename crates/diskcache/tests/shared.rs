//! The `DiskCache` trait: the same answers from a Cache and a FanoutCache,
//! and the same convention when a lock stays busy past the timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diskcache::{
    Cache, CacheBuilder, DiskCache, Error, FanoutCache, Key, Result, SetOptions, Side,
};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))
}

fn both(dir: &Path, timeout: Duration) -> Result<(Cache, FanoutCache)> {
    let builder = CacheBuilder::new().timeout(timeout);
    let cache = builder.clone().open(dir.join("single"))?;
    let fanout = FanoutCache::builder()
        .shards(3)
        .cache(builder)
        .open(dir.join("fanout"))?;
    Ok((cache, fanout))
}

/// A tour of the trait's calls on an empty cache; what each returned.
fn tour<C: DiskCache>(c: &C) -> Result<Vec<String>> {
    let mut out = Vec::new();
    c.set("a", &1)?;
    c.set_with("b", "two", &SetOptions::new().tag("t"))?;
    out.push(format!("{:?}", c.add("a", &9)?));
    out.push(format!("{:?}", c.add("c", &3)?));
    out.push(format!("{:?}", c.get::<i64>("a")?));
    out.push(format!("{:?}", c.get_entry::<String>("b")?.map(|e| e.tag)));
    out.push(format!("{:?}", c.contains("c")?));
    out.push(format!("{:?}", c.incr("n", 5, Some(10))?));
    out.push(format!("{:?}", c.decr("n", 1, None)?));
    out.push(format!(
        "{:?}",
        c.incr("absent", 1, None).err().map(|e| e.to_string())
    ));
    out.push(format!(
        "{:?}",
        c.touch("a", Some(Duration::from_secs(60)))?
    ));
    out.push(format!("{:?}", c.pop::<i64>("c")?));
    out.push(format!("{:?}", c.delete("c")?));
    let data = vec![1u8; 100];
    out.push(format!(
        "{:?}",
        c.set_reader("r", &mut data.as_slice(), &SetOptions::new())?
    ));
    out.push(format!("{:?}", c.read("r")?.map(|b| b.len())));
    let key = c.push(&"job", Some("q"), Side::Back)?;
    out.push(format!("{key:?}"));
    out.push(format!("{:?}", c.peek::<String>(Some("q"), Side::Front)?));
    out.push(format!("{:?}", c.pull::<String>(Some("q"), Side::Front)?));
    out.push(format!("{:?}", c.len()?));
    out.push(format!("{:?}", c.evict("t")?));
    out.push(format!(
        "{:?}",
        c.transact(|| {
            c.set("x", &1)?;
            c.set("y", &2)?;
            c.len()
        })?
    ));
    let failed: Result<()> = c.transact(|| {
        c.set("z", &1)?;
        Err(Error::NotFound)
    });
    out.push(format!("{:?} {:?}", failed.is_err(), c.contains("z")?));
    out.push(format!("{:?}", c.expire()?));
    out.push(format!("{:?}", c.cull()?));
    out.push(format!("{:?}", c.clear()?));
    out.push(format!("{:?}", c.is_empty()?));
    Ok(out)
}

#[test]
fn both_types_answer_alike() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(dir.path(), Duration::from_secs(5))?;
    let single = tour(&cache)?;
    let sharded = tour(&fanout)?;
    assert_eq!(single, sharded);
    assert!(cache.volume()? > 0 && DiskCache::volume(&fanout)? > 0);
    Ok(())
}

/// What a call returned, as far as the convention is concerned.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    Timeout,
    Failed(String),
}

fn outcome<T>(r: Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Done,
        Err(e) if e.is_timeout() => Outcome::Timeout,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Every write of the trait while another connection holds the lock.
fn under_a_held_lock<C: DiskCache>(c: &C) -> Vec<(&'static str, Outcome)> {
    let data = vec![0u8; 10];
    vec![
        ("set", outcome(c.set("k", &2))),
        ("set_with", outcome(c.set_with("k", &2, &SetOptions::new()))),
        (
            "set_reader",
            outcome(c.set_reader("r", &mut data.as_slice(), &SetOptions::new())),
        ),
        ("add", outcome(c.add("new", &1))),
        ("delete", outcome(c.delete("k"))),
        ("touch", outcome(c.touch("k", None))),
        ("pop", outcome(c.pop::<i64>("k"))),
        ("incr", outcome(c.incr("n", 1, Some(0)))),
        ("decr", outcome(c.decr("n", 1, Some(0)))),
        ("push", outcome(c.push(&1, Some("q"), Side::Back))),
        ("pull", outcome(c.pull::<i64>(Some("q"), Side::Front))),
        // A peek removes expired items at the head, so it writes.
        ("peek", outcome(c.peek::<i64>(Some("q"), Side::Front))),
        ("clear", outcome(c.clear())),
        ("evict", outcome(c.evict("t"))),
        ("expire", outcome(c.expire())),
        ("cull", outcome(c.cull())),
        ("transact", outcome(c.transact(|| c.set("k", &3)))),
        (
            "transact_on",
            outcome(c.transact_on("k", || c.set("k", &3))),
        ),
        (
            "update",
            outcome(c.update("n", |n: Option<i64>| n.map(|n| n + 1))),
        ),
        (
            "get_or_insert_with",
            outcome(c.get_or_insert_with("fresh", || 1)),
        ),
    ]
}

/// Reads, which never wait for a writer.
fn reads<C: DiskCache>(c: &C) -> Vec<(&'static str, Outcome)> {
    vec![
        ("get", outcome(c.get::<i64>("k"))),
        ("get_entry", outcome(c.get_entry::<i64>("k"))),
        ("contains", outcome(c.contains("k"))),
        ("read", outcome(c.read("s"))),
        ("len", outcome(c.len())),
    ]
}

/// A second connection holding `BEGIN IMMEDIATE` on each database.
fn hold(dbs: &[PathBuf]) -> Result<Vec<rusqlite::Connection>> {
    let sqlite = |e: rusqlite::Error| Error::InvalidInput {
        message: e.to_string(),
    };
    dbs.iter()
        .map(|db| {
            let conn = rusqlite::Connection::open(db).map_err(sqlite)?;
            conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
            Ok(conn)
        })
        .collect()
}

fn fill<C: DiskCache>(c: &C) -> Result<()> {
    c.set("k", &1)?;
    c.set_with("t1", &1, &SetOptions::new().tag("t"))?;
    c.set("n", &5)?;
    c.set("s", "text")?;
    c.push(&7, Some("q"), Side::Back)?;
    Ok(())
}

#[test]
fn a_busy_lock_is_a_timeout_on_both_types() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(dir.path(), Duration::from_millis(20))?;
    fill(&cache)?;
    fill(&fanout)?;

    let held = hold(&[cache.directory().join("cache.db")])?;
    let single = under_a_held_lock(&cache);
    let single_reads = reads(&cache);
    drop(held);

    let dbs: Vec<PathBuf> = fanout
        .shards()
        .iter()
        .map(|s| s.directory().join("cache.db"))
        .collect();
    let held = hold(&dbs)?;
    let sharded = under_a_held_lock(&fanout);
    let sharded_reads = reads(&fanout);
    // The inherent, python-compatible form stays lenient.
    assert!(!fanout.set("k", &2)?);
    assert_eq!(fanout.incr("n", 1, Some(0))?, None);
    drop(held);

    assert_eq!(single, sharded);
    for (call, got) in &single {
        assert_eq!(*got, Outcome::Timeout, "{call}");
    }
    assert_eq!(single_reads, sharded_reads);
    for (call, got) in &single_reads {
        assert_eq!(*got, Outcome::Done, "{call}");
    }

    // Nothing was changed by the calls that timed out.
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    assert_eq!(DiskCache::get::<i64>(&fanout, "k")?, Some(1));
    assert_eq!(cache.get::<i64>("n")?, Some(5));
    assert_eq!(DiskCache::get::<i64>(&fanout, "n")?, Some(5));
    assert!(!cache.contains("fresh")? && !DiskCache::contains(&fanout, "fresh")?);
    Ok(())
}

#[test]
fn a_busy_shard_fails_a_bulk_call_after_the_others_are_done() -> Result<()> {
    let dir = tempdir()?;
    let (_, fanout) = both(dir.path(), Duration::from_millis(20))?;
    for i in 0..30 {
        DiskCache::set(&fanout, &i, &i)?;
    }
    let busy = fanout.shard_for(&0)?.clone();
    let on_busy = busy.len()?;
    let held = hold(&[busy.directory().join("cache.db")])?;
    let err = DiskCache::clear(&fanout).err();
    drop(held);
    assert!(err.is_some_and(|e| matches!(e, Error::Timeout { .. })));
    // The other shards were cleared; the busy one kept its entries.
    assert_eq!(DiskCache::len(&fanout)?, on_busy);
    assert_eq!(DiskCache::clear(&fanout)?, on_busy);
    Ok(())
}

#[test]
fn generic_code_takes_either_type() -> Result<()> {
    fn remember<C: DiskCache>(c: &C, user: u64) -> Result<String> {
        c.get_or_insert_with(&("user", user), || format!("user {user}"))
    }
    let dir = tempdir()?;
    let (cache, fanout) = both(dir.path(), Duration::from_secs(5))?;
    assert_eq!(remember(&cache, 1)?, "user 1");
    assert_eq!(remember(&fanout, 1)?, "user 1");
    assert_eq!(
        DiskCache::get::<String>(&fanout, &("user", 1u64))?.as_deref(),
        Some("user 1")
    );
    assert_eq!(DiskCache::directory(&cache), cache.directory());
    let _: Key = DiskCache::push(&fanout, &1, None, Side::Back)?;
    Ok(())
}
