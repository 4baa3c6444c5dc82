//! A cache directory removed (or replaced) while the cache is open: a call
//! that needs a new connection fails at once with an I/O error naming the
//! directory, instead of waiting for the pool's timeout; and a handle whose
//! connection is open on the old, unlinked file does not write into it
//! unseen: its first write a second later fails, and the calls after that
//! reach what is at the path now. Reads notice it too, a second later at
//! most: they answer from what is at the path, or fail when nothing is
//! (in this process, and in another one reading the directory).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use diskcache_shard::{Cache, Error};

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

/// Whether `result` is an I/O error of kind NotFound about `path`.
fn not_found<T: std::fmt::Debug>(result: Result<T, Error>, path: &std::path::Path) -> bool {
    match result {
        Err(Error::Io { path: p, source }) => {
            p == path && source.kind() == std::io::ErrorKind::NotFound
        }
        other => {
            eprintln!("expected NotFound about {}, got {other:?}", path.display());
            false
        }
    }
}

/// Past the once-a-second check of the file a handle writes.
fn a_second_later() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_removed_directory_is_an_io_error() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    let cache = Cache::open(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    assert!(not_found(cache.set("k", &1), &dir));
    assert!(!dir.exists(), "nothing was created in its place");

    // With a connection open on the files before they went.
    let cache = Cache::open(&dir)?;
    cache.set("k", &1)?;
    std::fs::remove_dir_all(&dir)?;
    a_second_later();
    assert!(not_found(cache.set("k", &2), &dir.join("cache.db")));
    assert!(not_found(cache.set("k", &3), &dir));
    assert!(!dir.exists());
    Ok(())
}

#[test]
fn a_replaced_cache_is_noticed_and_then_used() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    let old = Cache::open(&dir)?;
    old.set("old", &1)?;
    std::fs::rename(&dir, parent.path().join("moved"))?;
    Cache::open(&dir)?.set("new", &2)?;
    a_second_later();
    assert!(not_found(old.set("lost", &3), &dir.join("cache.db")));
    // The handle now reads and writes the cache at its path.
    assert_eq!(old.get::<i64>("new")?, Some(2));
    assert_eq!(old.get::<i64>("old")?, None);
    old.set("after", &4)?;
    assert_eq!(Cache::open(&dir)?.get::<i64>("after")?, Some(4));
    assert_eq!(Cache::open(&dir)?.get::<i64>("lost")?, None);
    Ok(())
}

#[test]
fn reads_follow_a_replaced_cache() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    let old = Cache::open(&dir)?;
    old.set("k", &1)?;
    // Read twice: the second answer may come from the handle's read memo.
    assert_eq!(old.get::<i64>("k")?, Some(1));
    assert_eq!(old.get::<i64>("k")?, Some(1));
    std::fs::rename(&dir, parent.path().join("moved"))?;
    let new = Cache::open(&dir)?;
    new.set("k", &2)?;
    a_second_later();
    // No write in between: the reads alone notice the new file.
    assert_eq!(old.get::<i64>("k")?, Some(2));
    assert!(old.contains("k")?);
    assert_eq!(old.len()?, 1);
    // The cache moved away is whole.
    assert_eq!(
        Cache::open(parent.path().join("moved"))?.get::<i64>("k")?,
        Some(1)
    );
    Ok(())
}

#[test]
fn reads_fail_once_the_files_are_gone() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    let cache = Cache::open(&dir)?;
    cache.set("k", &1)?;
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    let db = dir.join("cache.db");
    std::fs::remove_file(&db)?;
    a_second_later();
    assert!(not_found(cache.get::<i64>("k"), &db));
    assert!(not_found(cache.contains("k"), &db));
    assert!(!db.exists(), "a read made an empty cache.db");

    std::fs::remove_dir_all(&dir)?;
    assert!(not_found(cache.get::<i64>("k"), &dir));
    assert!(!dir.exists());
    Ok(())
}

#[test]
fn a_reading_process_follows_a_replaced_cache() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    Cache::open(&dir)?.set("k", &1)?;
    // Another process reads `k` until it reads 2, for 20 s at most.
    let mut watcher = Command::new(HELPER)
        .args(["watch", dir.to_str().ok_or("path")?, "k", "2", "20000"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(watcher.stdout.take().ok_or("stdout")?).lines();
    assert_eq!(lines.next().transpose()?.as_deref(), Some("saw 1"));
    std::fs::rename(&dir, parent.path().join("moved"))?;
    Cache::open(&dir)?.set("k", &2)?;
    // It may read while the directory is away (an error), never the old
    // entries once the new cache is there.
    let seen: Vec<String> = lines.collect::<Result<_, _>>()?;
    assert!(watcher.wait()?.success());
    assert_eq!(seen.last().map(String::as_str), Some("saw 2"), "{seen:?}");
    Ok(())
}
