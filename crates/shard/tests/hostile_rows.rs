//! Rows and settings of any type and value written straight into cache.db
//! (as a hostile or damaged database holds them): every operation answers
//! with a value or an error, never a panic; no file outside the cache
//! directory is read, changed or removed; cache.db stays; an entry stored
//! before the damage reads back whole until something culls it; damaged
//! settings refuse the open unless given explicitly; and the cache works
//! again once cleared.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diskcache_shard::{
    Cache, CacheBuilder, Error, EvictionPolicy, JournalMode, Key, Side, Synchronous,
};
use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value;

/// A file beside the cache directory, and one named by absolute path.
const VICTIM: &str = "victim.txt";
const PRECIOUS: &[u8] = b"precious bytes";

/// A file outside every cache directory, named by its absolute path in
/// the hostile rows; made once per test process.
fn absolute_victim() -> PathBuf {
    let path = std::env::temp_dir().join(format!("diskcache-hostile-{}.txt", std::process::id()));
    if !path.exists() {
        fs::write(&path, PRECIOUS).expect("write the outside file");
    }
    path
}

/// Any SQLite value, with the extremes that break careless conversions.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Integer),
        prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, 1, 2, 3, 4, 5, 6, 1 << 40])
            .prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Real),
        prop::sample::select(vec![
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e300,
            1e300,
            -1.0,
            0.0,
            4e9,
            1.7e9,
            f64::MIN_POSITIVE
        ])
        .prop_map(Value::Real),
        ".{0,12}".prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Blob),
    ]
}

/// File names a hostile row might hold: escapes, the database, folders,
/// value-shaped names that do not exist, and anything else.
fn any_filename(victim: String) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "../victim.txt".to_string(),
            victim,
            "ab/../../victim.txt".to_string(),
            "./../victim.txt".to_string(),
            "cache.db".to_string(),
            "cache.db-wal".to_string(),
            "cache.db-memo".to_string(),
            "ab".to_string(),
            "ab/cd".to_string(),
            "ab/cd/0123456789abcdef0123456789ab.val".to_string(),
            ".".to_string(),
            String::new(),
            "a\0b".to_string(),
            "a/b/c/d/e/f/g/h/i/j".to_string(),
        ])
        .prop_map(Value::Text),
        1 => any_value(),
    ]
}

/// One row for the Cache table: key, raw, store_time, expire_time,
/// access_time, access_count, tag, size, mode, filename, value.
fn any_row(victim: String) -> impl Strategy<Value = Vec<Value>> {
    (
        prop::collection::vec(any_value(), 9),
        any_filename(victim),
        any_value(),
    )
        .prop_map(|(mut cols, filename, value)| {
            cols.push(filename);
            cols.push(value);
            cols
        })
}

/// A Settings row with a key the cache reads and a value of any type.
fn any_setting() -> impl Strategy<Value = (String, Value)> {
    (
        prop::sample::select(vec![
            "statistics",
            "tag_index",
            "eviction_policy",
            "size_limit",
            "cull_limit",
            "sqlite_auto_vacuum",
            "sqlite_cache_size",
            "sqlite_journal_mode",
            "sqlite_mmap_size",
            "sqlite_synchronous",
            "disk_min_file_size",
            "count",
            "size",
            "hits",
            "misses",
        ]),
        any_value(),
    )
        .prop_map(|(k, v)| (k.to_string(), v))
}

/// Every reading operation on `key`; each may fail, none may panic.
fn read_all(cache: &Cache, key: &Key) {
    let _ = cache.get::<Vec<u8>>(key);
    let _ = cache.get::<String>(key);
    let _ = cache.get::<i64>(key);
    let _ = cache.get::<f64>(key);
    let _ = cache.get::<(u8, String)>(key);
    let _ = cache.get_entry::<Vec<u8>>(key);
    if let Ok(Some(bytes)) = cache.read(key) {
        let _ = bytes.iter().map(|&b| u64::from(b)).sum::<u64>();
    }
    let _ = cache.contains(key);
}

/// Every writing operation on `key`.
fn write_all(cache: &Cache, key: &Key) {
    let _ = cache.touch(key, Some(Duration::from_secs(60)));
    let _ = cache.incr(key, 1, None);
    let _ = cache.add(key, &1);
    let _ = cache.pop::<Vec<u8>>(key);
    let _ = cache.delete(key);
}

/// A builder that gives every setting stored in `Settings`.
fn every_setting() -> CacheBuilder {
    Cache::builder()
        .statistics(false)
        .tag_index(false)
        .eviction_policy(EvictionPolicy::LeastRecentlyStored)
        .size_limit(1 << 30)
        .cull_limit(10)
        .min_file_size(1 << 15)
        .sqlite_auto_vacuum(1)
        .sqlite_cache_size(8192)
        .sqlite_journal_mode(JournalMode::Wal)
        .sqlite_mmap_size(0)
        .synchronous(Synchronous::Normal)
}

fn run(
    rows: Vec<Vec<Value>>,
    settings: Vec<(String, Value)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let outer = tempfile::tempdir()?;
    let victim = outer.path().join(VICTIM);
    fs::write(&victim, PRECIOUS)?;
    let dir = outer.path().join("cache");
    let big = vec![5u8; 40_000];
    {
        let cache = Cache::open(&dir)?;
        cache.set("kept", "small")?;
        cache.set("kept-big", &big)?;
        cache.close()?;
    }
    {
        let db = Connection::open(dir.join("cache.db"))?;
        for row in &rows {
            db.execute(
                "INSERT OR IGNORE INTO Cache (key, raw, store_time, expire_time, access_time, \
                 access_count, tag, size, mode, filename, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                rusqlite::params_from_iter(row.iter()),
            )?;
        }
        for (key, value) in &settings {
            db.execute(
                "UPDATE Settings SET value = ?2 WHERE key = ?1",
                (key, value),
            )?;
        }
    }
    let untouched = |dir: &Path| -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(fs::read(&victim)?, PRECIOUS, "the file outside was changed");
        assert_eq!(
            fs::read(absolute_victim())?,
            PRECIOUS,
            "the file outside was changed"
        );
        assert!(dir.join("cache.db").exists(), "cache.db was removed");
        Ok(())
    };
    // Damaged settings may refuse the open, with an error; rows alone may
    // not. Giving every setting explicitly replaces whatever was stored.
    let cache = match Cache::open(&dir).map_err(Error::into_root) {
        Ok(cache) => cache,
        Err(Error::DamagedSetting { .. }) if !settings.is_empty() => {
            untouched(&dir)?;
            every_setting().open(&dir)?
        }
        Err(e) => return Err(e.into()),
    };
    // Reading: every key the iterators yield, both ways, and each row's
    // own key as stored.
    let mut keys: Vec<Key> = cache.keys().filter_map(Result::ok).collect();
    keys.extend(cache.keys_rev().filter_map(Result::ok));
    for row in &rows {
        keys.extend(match &row[0] {
            Value::Integer(i) => Some(Key::Int(*i)),
            Value::Real(r) => Some(Key::Real(*r)),
            Value::Text(t) => Some(Key::Text(t.clone())),
            Value::Blob(b) => Some(Key::Bytes(b.clone())),
            Value::Null => None,
        });
    }
    for key in &keys {
        read_all(&cache, key);
    }
    let _ = cache.len();
    let _ = cache.volume();
    let _ = cache.stats();
    let _ = cache.check(false);
    for last in [false, true] {
        let _ = cache.peekitem::<Vec<u8>>(last);
    }
    for side in [Side::Front, Side::Back] {
        let _ = cache.peek::<Vec<u8>>(None, side);
    }
    // Nothing culls on a read: the entries stored before are whole.
    assert_eq!(cache.get::<String>("kept")?.as_deref(), Some("small"));
    assert_eq!(cache.get::<Vec<u8>>("kept-big")?, Some(big.clone()));
    untouched(&dir)?;

    // Writing and maintenance.
    for key in &keys {
        write_all(&cache, key);
    }
    for side in [Side::Front, Side::Back] {
        let _ = cache.pull::<Vec<u8>>(None, side);
    }
    let _ = cache.set("new", &vec![1u8; 40_000]);
    let _ = cache.expire();
    let _ = cache.cull();
    for row in &rows {
        if let Value::Text(tag) = &row[6] {
            let _ = cache.evict(tag.as_str());
        }
    }
    let _ = cache.check_with(true, Duration::ZERO);
    untouched(&dir)?;
    // An entry still there reads back whole (a cull may have taken it).
    if let Ok(Some(value)) = cache.get::<Vec<u8>>("kept-big") {
        assert_eq!(value, big);
    }

    // Cleared, the cache works again.
    cache.clear()?;
    untouched(&dir)?;
    assert_eq!(cache.len()?, 0);
    cache.set("after", &7)?;
    assert_eq!(cache.get::<i64>("after")?, Some(7));
    Ok(())
}

fn rows() -> impl Strategy<Value = Vec<Vec<Value>>> {
    let victim = absolute_victim().to_string_lossy().into_owned();
    prop::collection::vec(any_row(victim), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hostile_rows_never_panic_or_escape(rows in rows()) {
        run(rows, Vec::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn hostile_settings_never_panic_or_escape(
        rows in rows(),
        settings in prop::collection::vec(any_setting(), 1..3),
    ) {
        run(rows, settings).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
