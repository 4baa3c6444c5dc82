//! Single-entry operations: set/get/add/touch/incr/pop/delete/contains,
//! expiry, tags, typed values and type errors.

use std::time::Duration;

use diskcache_shard::{Cache, Error, Key, SetOptions};
use serde::{Deserialize, Serialize};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Point {
    x: i32,
    label: String,
}

fn cache() -> Result<(tempfile::TempDir, Cache), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(1024).open(dir.path())?;
    Ok((dir, cache))
}

#[test]
fn native_and_packed_values_round_trip() -> TestResult {
    let (_dir, cache) = cache()?;
    cache.set(b"bytes".as_slice(), b"\x00\xff".as_slice())?;
    cache.set("text", "héllo")?;
    cache.set(&-3i64, &i64::MIN)?;
    cache.set(&0.5f64, &1.25f64)?;
    let p = Point {
        x: 1,
        label: "a".into(),
    };
    cache.set(&("tuple", 2), &p)?;
    assert_eq!(
        cache.get::<Vec<u8>>(b"bytes".as_slice())?,
        Some(vec![0, 255])
    );
    assert_eq!(cache.get::<String>("text")?.as_deref(), Some("héllo"));
    assert_eq!(cache.get::<i64>(&-3i64)?, Some(i64::MIN));
    assert_eq!(cache.get::<f64>(&0.5f64)?, Some(1.25));
    assert_eq!(cache.get::<Point>(&("tuple", 2))?, Some(p));
    // A text key and a byte key with the same bytes are different keys.
    assert_eq!(cache.get::<String>(b"text".as_slice())?, None);
    assert_eq!(cache.len()?, 5);
    Ok(())
}

#[test]
fn large_values_live_in_files_and_round_trip() -> TestResult {
    let (dir, cache) = cache()?;
    let big = vec![7u8; 5000];
    let text = "x".repeat(5000);
    let p = Point {
        x: 9,
        label: "y".repeat(5000),
    };
    cache.set("big", &big)?;
    cache.set("text", &text)?;
    cache.set("packed", &p)?;
    assert_eq!(cache.get::<Vec<u8>>("big")?, Some(big.clone()));
    assert_eq!(cache.get::<String>("text")?, Some(text));
    assert_eq!(cache.get::<Point>("packed")?, Some(p));
    let mapped = cache.read("big")?.ok_or("missing")?;
    assert!(mapped.is_mapped());
    assert_eq!(&*mapped, &big[..]);
    let files = walk(dir.path());
    assert_eq!(files.len(), 3, "one file per large value: {files:?}");
    // Overwriting with a small value removes the old file.
    cache.set("big", &1)?;
    cache.delete("text")?;
    cache.pop::<Point>("packed")?;
    assert!(walk(dir.path()).is_empty());
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "val") {
            out.push(p);
        }
    }
    out
}

#[test]
fn streaming_write_from_reader() -> TestResult {
    let (_dir, cache) = cache()?;
    let mut reader = std::io::repeat(3).take_bytes(3 << 20);
    let n = cache.set_reader("stream", &mut reader, &SetOptions::new().tag("s"))?;
    assert_eq!(n, 3 << 20);
    let v = cache.read("stream")?.ok_or("missing")?;
    assert_eq!(v.len(), 3 << 20);
    assert!(v.iter().all(|&b| b == 3));
    assert_eq!(cache.evict("s")?, 1);
    Ok(())
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        self.take(n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[test]
fn wrong_type_is_an_error_and_keeps_the_entry() -> TestResult {
    let (_dir, cache) = cache()?;
    cache.set("n", &5)?;
    assert!(matches!(
        cache.get::<String>("n"),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        cache.pop::<Point>("n"),
        Err(Error::TypeMismatch { .. })
    ));
    assert_eq!(cache.get::<i64>("n")?, Some(5));
    cache.set("s", "text")?;
    assert!(matches!(
        cache.incr("s", 1, Some(0)),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(cache.read("n"), Err(Error::TypeMismatch { .. })));
    Ok(())
}

#[test]
fn expiry_touch_and_entry_metadata() -> TestResult {
    let (_dir, cache) = cache()?;
    cache.set_with(
        "short",
        &1,
        &SetOptions::new().expire(Duration::from_millis(50)),
    )?;
    cache.set_with(
        "long",
        &2,
        &SetOptions::new().expire(Duration::from_secs(60)).tag(7i64),
    )?;
    let entry = cache.get_entry::<i64>("long")?.ok_or("missing")?;
    assert_eq!(entry.tag, Some(Key::Int(7)));
    assert!(entry.expire_time.is_some());
    assert!(cache.touch("short", Some(Duration::from_millis(60)))?);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(cache.get::<i64>("short")?, None);
    assert!(!cache.contains("short")?);
    assert!(!cache.touch("short", None)?);
    assert!(
        !cache.delete("short")?,
        "expired entries are not deleted as present"
    );
    // add over an expired entry succeeds.
    assert!(cache.add("short", &3)?);
    assert_eq!(cache.get::<i64>("short")?, Some(3));
    assert!(cache.touch("long", None)?);
    assert_eq!(
        cache
            .get_entry::<i64>("long")?
            .ok_or("missing")?
            .expire_time,
        None
    );
    cache.set_with("gone", &1, &SetOptions::new().expire(Duration::ZERO))?;
    assert_eq!(cache.expire()?, 1);
    Ok(())
}

#[test]
fn incr_decr_and_defaults() -> TestResult {
    let (_dir, cache) = cache()?;
    assert!(matches!(cache.incr("c", 1, None), Err(Error::NotFound)));
    assert_eq!(cache.incr("c", 10, Some(5))?, 15);
    assert_eq!(cache.decr("c", 20, None)?, -5);
    cache.set("max", &i64::MAX)?;
    assert!(matches!(cache.incr("max", 1, None), Err(Error::Overflow)));
    assert_eq!(cache.get::<i64>("max")?, Some(i64::MAX));
    Ok(())
}

#[test]
fn add_is_only_if_absent() -> TestResult {
    let (dir, cache) = cache()?;
    assert!(cache.add("k", &vec![1u8; 4096])?);
    assert!(!cache.add("k", &vec![2u8; 4096])?);
    assert_eq!(cache.get::<Vec<u8>>("k")?, Some(vec![1u8; 4096]));
    assert_eq!(
        walk(dir.path()).len(),
        1,
        "the refused value's file was removed"
    );
    Ok(())
}

#[test]
fn tags_evict_with_and_without_index() -> TestResult {
    let (_dir, cache) = cache()?;
    for i in 0..250 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        cache.set_with(&i, &i, &SetOptions::new().tag(tag))?;
    }
    assert_eq!(cache.evict("even")?, 125);
    cache.create_tag_index()?;
    assert!(cache.settings().tag_index);
    assert_eq!(cache.evict("odd")?, 125);
    cache.drop_tag_index()?;
    assert!(cache.is_empty()?);
    Ok(())
}

#[test]
fn clear_removes_rows_files_and_folders() -> TestResult {
    let (dir, cache) = cache()?;
    for i in 0..300 {
        cache.set(&i, &vec![i as u8; 2000])?;
    }
    assert_eq!(cache.clear()?, 300);
    assert_eq!(cache.len()?, 0);
    let left: Vec<_> = std::fs::read_dir(dir.path())?
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(left.is_empty(), "folders left: {left:?}");
    Ok(())
}

#[test]
fn statistics_count_hits_and_misses() -> TestResult {
    let (_dir, cache) = cache()?;
    assert_eq!(cache.stats()?.hits, 0);
    cache.set_statistics(true)?;
    cache.set("a", &1)?;
    cache.get::<i64>("a")?;
    cache.get::<i64>("a")?;
    cache.get::<i64>("b")?;
    let stats = cache.stats()?;
    assert_eq!((stats.hits, stats.misses), (2, 1));
    assert_eq!(cache.reset_stats()?.hits, 2);
    assert_eq!(cache.stats()?.hits, 0);
    Ok(())
}

#[test]
fn iteration_both_ways_visits_each_key_once() -> TestResult {
    let (_dir, cache) = cache()?;
    for i in 0..250i64 {
        cache.set(&i, &())?;
    }
    let fwd: Vec<Key> = cache.keys().collect::<Result<_, _>>()?;
    let rev: Vec<Key> = cache.keys_rev().collect::<Result<_, _>>()?;
    assert_eq!(fwd, (0..250).map(Key::Int).collect::<Vec<_>>());
    assert_eq!(rev, (0..250).rev().map(Key::Int).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn a_value_of_another_type_names_the_key_and_the_type() -> Result<(), Box<dyn std::error::Error>> {
    let cache = diskcache_shard::Cache::builder().open_temp()?;
    cache.set("answer", &42)?;
    for _ in 0..2 {
        // Through SQLite, then from the read memo.
        match cache.get::<String>("answer") {
            Err(diskcache_shard::Error::TypeMismatch { message }) => {
                assert!(message.contains("Text(\"answer\")"), "{message}");
                assert!(message.contains("String"), "{message}");
            }
            other => panic!("expected a type mismatch, got {other:?}"),
        }
    }
    Ok(())
}
