//! The read memo stays exactly as fresh as SQLite: a value remembered by
//! one handle is never returned after another connection (another handle,
//! another process) or this handle itself changed it.

use std::process::Command;
use std::time::Duration;

use diskcache_shard::{Cache, SetOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn writes_of_another_process_are_seen_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("k", &-1_i64)?;
    for n in 0..12_i64 {
        // Twice, so that the second read can come from the memo.
        assert_eq!(cache.get::<i64>("k")?, Some(n - 1));
        assert_eq!(cache.get::<i64>("k")?, Some(n - 1));
        let status = Command::new(HELPER)
            .args([
                "set",
                dir.path().to_str().unwrap_or_default(),
                "k",
                &n.to_string(),
            ])
            .status()?;
        assert!(status.success(), "helper failed: {status}");
        assert_eq!(
            cache.get::<i64>("k")?,
            Some(n),
            "a stale value after write {n}"
        );
    }
    Ok(())
}

#[test]
fn writes_of_another_handle_are_seen_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (a, b) = (Cache::open(dir.path())?, Cache::open(dir.path())?);
    a.set("k", &1_i64)?;
    a.set("other", "x")?;
    for _ in 0..2 {
        assert_eq!(a.get::<i64>("k")?, Some(1));
    }
    b.set("k", &2_i64)?;
    assert_eq!(a.get::<i64>("k")?, Some(2));
    b.set_with("k", &3_i64, &SetOptions::new().expire(Duration::ZERO))?;
    assert_eq!(a.get::<i64>("k")?, None, "expired by the other handle");
    b.set_with("k", &4_i64, &SetOptions::new().tag("t"))?;
    assert_eq!(
        a.get_entry::<i64>("k")?.and_then(|e| e.tag),
        Some("t".into())
    );
    assert_eq!(a.get::<String>("other")?.as_deref(), Some("x"));
    b.clear()?;
    assert_eq!(a.get::<String>("other")?, None);
    assert_eq!(a.get::<i64>("k")?, None);
    Ok(())
}

#[test]
fn own_writes_update_what_is_remembered() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(1024).open(dir.path())?;
    for round in 0..2_i64 {
        cache.set("k", &round)?;
        assert_eq!(cache.get::<i64>("k")?, Some(round));
        assert_eq!(cache.get::<i64>("k")?, Some(round));
    }
    assert!(cache.delete("k")?);
    assert_eq!(cache.get::<i64>("k")?, None);
    cache.set("k", &vec![5u8; 4096])?;
    assert_eq!(cache.get::<Vec<u8>>("k")?, Some(vec![5u8; 4096]));
    // 1 and 1.0 are one key to SQLite: a write under the float must not
    // leave the integer's remembered value behind.
    cache.set(&1_i64, &10_i64)?;
    assert_eq!(cache.get::<i64>(&1_i64)?, Some(10));
    assert_eq!(cache.get::<i64>(&1_i64)?, Some(10));
    cache.set(&1.0_f64, &20_i64)?;
    assert_eq!(cache.get::<i64>(&1_i64)?, Some(20));
    // Operations that do not name their keys drop the whole memo.
    cache.set("q-other", &1_i64)?;
    assert_eq!(cache.get::<i64>("q-other")?, Some(1));
    assert_eq!(cache.evict("nothing-tagged")?, 0);
    cache.clear()?;
    assert_eq!(cache.get::<i64>("q-other")?, None);
    Ok(())
}

#[test]
fn a_transaction_reads_its_own_writes_and_a_rollback_leaves_none() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("k", &1_i64)?;
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    let failed: Result<(), diskcache_shard::Error> = cache.transact(|| {
        cache.set("k", &2_i64)?;
        assert_eq!(cache.get::<i64>("k")?, Some(2));
        Err(diskcache_shard::Error::NotFound)
    });
    assert!(failed.is_err());
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    cache.transact(|| cache.set("k", &3_i64))?;
    assert_eq!(cache.get::<i64>("k")?, Some(3));
    Ok(())
}

#[test]
fn culled_entries_are_not_remembered() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .size_limit(64 * 1024)
        .min_file_size(1024)
        .open(dir.path())?;
    cache.set("first", &vec![1u8; 8000])?;
    cache.set("small", &7_i64)?;
    assert_eq!(cache.get::<i64>("small")?, Some(7));
    for i in 0..40 {
        cache.set(&format!("fill-{i}"), &vec![2u8; 8000])?;
    }
    // The oldest entries were culled; the memo must agree with the table.
    assert_eq!(cache.get::<i64>("small")?, None);
    assert!(!cache.contains("small")?);
    Ok(())
}
