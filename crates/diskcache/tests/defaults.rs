//! A cache-wide default time to live, get-or-insert and atomic update, on
//! a Cache and on a FanoutCache.

use std::process::Command;
use std::time::{Duration, SystemTime};

use diskcache::{Cache, CacheBuilder, DiskCache, Error, FanoutCache, Result, SetOptions};

const HELPER: &str = env!("CARGO_BIN_EXE_diskcache-test-helper");

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))
}

fn both(dir: &std::path::Path, builder: CacheBuilder) -> Result<(Cache, FanoutCache)> {
    let cache = builder.clone().open(dir.join("single"))?;
    let fanout = FanoutCache::builder()
        .shards(3)
        .cache(builder)
        .open(dir.join("fanout"))?;
    Ok((cache, fanout))
}

/// When `key` expires, in seconds from now (`None`: never).
fn expires_in<C: DiskCache>(c: &C, key: &str) -> Result<Option<f64>> {
    let entry = c
        .get_entry::<serde_ignored::Any>(key)?
        .ok_or(Error::NotFound)?;
    Ok(entry.expire_time.map(|t| {
        t.duration_since(SystemTime::now())
            .map_or(0.0, |d| d.as_secs_f64())
    }))
}

/// Any stored value, ignored.
mod serde_ignored {
    #[derive(serde::Deserialize)]
    pub struct Any(#[allow(dead_code)] serde::de::IgnoredAny);
}

fn default_ttl_applies<C: DiskCache>(c: &C) -> Result<()> {
    c.set("plain", &1)?;
    c.add("added", &1)?;
    c.set_reader("streamed", &mut [1u8; 64].as_slice(), &SetOptions::new())?;
    c.set_with("tagged", &1, &SetOptions::new().tag("t"))?;
    for key in ["plain", "added", "tagged"] {
        let left = expires_in(c, key)?
            .ok_or("no expiry")
            .map_err(|m| Error::InvalidInput {
                message: format!("{key}: {m}"),
            })?;
        assert!((3590.0..=3600.0).contains(&left), "{key}: {left}");
    }
    assert!(
        c.get_entry::<Vec<u8>>("streamed")?
            .and_then(|e| e.expire_time)
            .is_some()
    );
    c.set_with("own", &1, &SetOptions::new().expire(Duration::from_secs(5)))?;
    assert!(expires_in(c, "own")?.is_some_and(|left| left <= 5.0));
    c.set_with("forever", &1, &SetOptions::new().never_expire())?;
    assert_eq!(expires_in(c, "forever")?, None);
    // Counters and queues keep no expiry.
    c.incr("n", 1, Some(0))?;
    assert_eq!(expires_in(c, "n")?, None);
    Ok(())
}

#[test]
fn a_default_ttl_applies_to_writes_without_an_expiry() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(
        dir.path(),
        CacheBuilder::new().default_ttl(Duration::from_secs(3600)),
    )?;
    default_ttl_applies(&cache)?;
    default_ttl_applies(&fanout)?;
    // The inherent lenient form of a FanoutCache too.
    assert!(fanout.set("lenient", &1)?);
    assert!(expires_in(&fanout, "lenient")?.is_some());
    // A named sub-cache has the shards' builder, default included.
    let sub = fanout.cache("sessions")?;
    sub.set("s", &1)?;
    assert!(expires_in(&sub, "s")?.is_some());
    Ok(())
}

#[test]
fn entries_expire_by_the_default_ttl() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(
        dir.path(),
        CacheBuilder::new().default_ttl(Duration::from_millis(50)),
    )?;
    cache.set("k", &1)?;
    DiskCache::set(&fanout, "k", &1)?;
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(cache.get::<i64>("k")?, None);
    assert_eq!(DiskCache::get::<i64>(&fanout, "k")?, None);
    // Without a default, nothing expires.
    let plain = Cache::open(dir.path().join("plain"))?;
    plain.set("k", &1)?;
    assert_eq!(expires_in(&plain, "k")?, None);
    Ok(())
}

fn get_or_insert<C: DiskCache>(c: &C) -> Result<()> {
    let mut calls = 0;
    let v: String = c.get_or_insert_with("k", || {
        calls += 1;
        "made".to_string()
    })?;
    assert_eq!(v, "made");
    let again: String = c.get_or_insert_with("k", || {
        calls += 1;
        "again".to_string()
    })?;
    assert_eq!((again.as_str(), calls), ("made", 1));

    // An error is returned and nothing stored.
    #[derive(Debug)]
    enum Failure {
        Cache(#[allow(dead_code)] Error),
        Upstream,
    }
    impl From<Error> for Failure {
        fn from(e: Error) -> Self {
            Failure::Cache(e)
        }
    }
    let failed = c.try_get_or_insert_with("t", || Err::<u32, _>(Failure::Upstream));
    assert!(matches!(failed, Err(Failure::Upstream)));
    assert!(!c.contains("t")?);
    let ok = c.try_get_or_insert_with("t", || Ok::<u32, Failure>(5));
    assert!(matches!(ok, Ok(5)));
    assert_eq!(c.get::<u32>("t")?, Some(5));
    // A stored value of another type is an error, not a recomputation.
    assert!(matches!(
        c.get_or_insert_with("k", || 1u32),
        Err(Error::TypeMismatch { .. })
    ));
    Ok(())
}

#[test]
fn get_or_insert_computes_once_and_never_stores_an_error() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(dir.path(), CacheBuilder::new())?;
    get_or_insert(&cache)?;
    get_or_insert(&fanout)?;
    Ok(())
}

fn update<C: DiskCache>(c: &C) -> Result<()> {
    assert_eq!(
        c.update("n", |n: Option<u32>| Some(n.unwrap_or(0) + 1))?,
        Some(1)
    );
    assert_eq!(c.update("n", |n: Option<u32>| n.map(|n| n * 10))?, Some(10));
    assert_eq!(c.get::<u32>("n")?, Some(10));
    // None deletes.
    assert_eq!(c.update("n", |_: Option<u32>| None)?, None);
    assert!(!c.contains("n")?);
    // Threads of one process: none of their increments is lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || -> Result<()> {
                for _ in 0..50 {
                    c.update("count", |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| Error::InvalidInput {
            message: "a thread panicked".into(),
        })??;
    }
    assert_eq!(c.get::<u64>("count")?, Some(200));
    Ok(())
}

#[test]
fn update_is_an_atomic_read_modify_write() -> Result<()> {
    let dir = tempdir()?;
    let (cache, fanout) = both(dir.path(), CacheBuilder::new())?;
    update(&cache)?;
    update(&fanout)?;
    Ok(())
}

/// Two processes run `update` on the same counter; the total is exact.
fn two_processes_update(kind: &str) -> Result<()> {
    let dir = tempdir()?;
    let path = dir.path().to_str().unwrap_or_default();
    let spawn = |_| {
        Command::new(HELPER)
            .args(["update", path, kind, "200"])
            .spawn()
            .map_err(|e| Error::io(HELPER, e))
    };
    let children: Vec<_> = (0..2).map(spawn).collect::<Result<_>>()?;
    for mut child in children {
        let status = child.wait().map_err(|e| Error::io(HELPER, e))?;
        assert!(status.success(), "{kind}: {status}");
    }
    let total: Option<(u64, String)> = match kind {
        "cache" => Cache::open(dir.path())?.get("total")?,
        _ => DiskCache::get(&FanoutCache::builder().shards(4).open(dir.path())?, "total")?,
    };
    assert_eq!(total, Some((400, "after 400".to_string())), "{kind}");
    Ok(())
}

#[test]
fn two_processes_updating_one_counter_lose_nothing() -> Result<()> {
    two_processes_update("cache")?;
    two_processes_update("fanout")?;
    Ok(())
}
