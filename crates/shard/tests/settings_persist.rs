//! Settings are stored, honoured on reopen, and overridden explicitly; a
//! limit another process changes takes effect here on request, and by
//! itself within a second.

use std::process::Command;

use diskcache_shard::{Cache, Error, EvictionPolicy, Synchronous};

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn stored_settings_survive_reopen_and_explicit_ones_override()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let cache = Cache::builder()
            .size_limit(12345)
            .cull_limit(3)
            .eviction_policy(EvictionPolicy::LeastFrequentlyUsed)
            .statistics(true)
            .tag_index(true)
            .min_file_size(100)
            .synchronous(Synchronous::Full)
            .sqlite_mmap_size(1 << 26)
            .open(dir.path())?;
        cache.set("k", &1)?;
    }
    let cache = Cache::open(dir.path())?;
    let s = cache.settings();
    assert_eq!(s.size_limit, 12345);
    assert_eq!(s.cull_limit, 3);
    assert_eq!(s.eviction_policy, EvictionPolicy::LeastFrequentlyUsed);
    assert!(s.statistics && s.tag_index);
    assert_eq!(s.disk_min_file_size, 100);
    assert_eq!(s.sqlite_synchronous, Synchronous::Full);
    assert_eq!(
        s.sqlite_mmap_size,
        1 << 26,
        "python-diskcache's default, kept"
    );
    drop(cache);
    let cache = Cache::builder()
        .size_limit(999)
        .tag_index(false)
        .open(dir.path())?;
    assert_eq!(cache.settings().size_limit, 999);
    assert!(!cache.settings().tag_index);
    assert_eq!(
        cache.settings().cull_limit,
        3,
        "settings not named keep their stored value"
    );
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    Ok(())
}

#[test]
fn a_new_cache_reads_without_a_memory_map() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    drop(Cache::open(dir.path())?);
    assert_eq!(Cache::open(dir.path())?.settings().sqlite_mmap_size, 0);
    Ok(())
}

#[test]
fn the_page_size_is_chosen_at_creation_and_kept() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let page_size = |dir: &std::path::Path| -> rusqlite::Result<i64> {
        rusqlite::Connection::open(dir.join("cache.db"))?
            .query_row("PRAGMA page_size", [], |r| r.get(0))
    };
    let cache = Cache::builder().sqlite_page_size(1024).open(dir.path())?;
    cache.set("k", &vec![3_u8; 5000])?;
    drop(cache);
    assert_eq!(page_size(dir.path())?, 1024);
    // An existing database keeps its pages, whatever is asked.
    let cache = Cache::builder().sqlite_page_size(8192).open(dir.path())?;
    assert_eq!(cache.get::<Vec<u8>>("k")?, Some(vec![3_u8; 5000]));
    drop(cache);
    assert_eq!(page_size(dir.path())?, 1024);
    Ok(())
}

#[test]
fn invalid_settings_are_typed_errors() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let err = Cache::builder()
        .sqlite_auto_vacuum(7)
        .open(dir.path())
        .err()
        .map(Error::into_root);
    assert!(matches!(err, Some(Error::InvalidInput { .. })), "{err:?}");
    for bytes in [0, 256, 1000, 131_072] {
        let err = Cache::builder()
            .sqlite_page_size(bytes)
            .open(dir.path())
            .err()
            .map(Error::into_root);
        assert!(
            matches!(err, Some(Error::InvalidInput { .. })),
            "{bytes}: {err:?}"
        );
    }
    Ok(())
}

/// A damaged stored setting refuses the open with an error that names it;
/// giving that setting to the builder replaces the damaged value, and the
/// entries are all still there.
#[test]
fn a_damaged_stored_setting_is_repaired_by_giving_it() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    Cache::open(dir.path())?.set("kept", "value")?;
    let damage = [
        ("statistics", "NULL"),
        ("eviction_policy", "'sometimes'"),
        ("size_limit", "-5"),
        ("sqlite_auto_vacuum", "99"),
        ("sqlite_synchronous", "x'00'"),
    ];
    for (key, bad) in damage {
        let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
        db.execute(
            &format!("UPDATE Settings SET value = {bad} WHERE key = ?1"),
            [key],
        )?;
        drop(db);
        match Cache::open(dir.path()).map_err(Error::into_root) {
            Err(Error::DamagedSetting { key: named, .. }) => assert_eq!(named, key),
            other => panic!("{key}: opened over a damaged value: {:?}", other.err()),
        }
        let builder = Cache::builder();
        let builder = match key {
            "statistics" => builder.statistics(true),
            "eviction_policy" => builder.eviction_policy(EvictionPolicy::LeastRecentlyUsed),
            "size_limit" => builder.size_limit(1 << 20),
            "sqlite_auto_vacuum" => builder.sqlite_auto_vacuum(1),
            _ => builder.synchronous(Synchronous::Full),
        };
        let cache = builder.open(dir.path())?;
        assert_eq!(
            cache.get::<String>("kept")?.as_deref(),
            Some("value"),
            "{key}"
        );
        drop(cache);
        // The repaired value was stored: a plain open works again.
        let settings = Cache::open(dir.path())?.settings();
        match key {
            "statistics" => assert!(settings.statistics),
            "eviction_policy" => {
                assert_eq!(settings.eviction_policy, EvictionPolicy::LeastRecentlyUsed)
            }
            "size_limit" => assert_eq!(settings.size_limit, 1 << 20),
            "sqlite_auto_vacuum" => assert_eq!(settings.sqlite_auto_vacuum, 1),
            _ => assert_eq!(settings.sqlite_synchronous, Synchronous::Full),
        }
    }
    Ok(())
}
#[test]
fn a_temporary_cache_gets_its_own_directory_removed_with_its_last_handle()
-> Result<(), Box<dyn std::error::Error>> {
    let cache = Cache::builder().open_temp()?;
    cache.set("k", &vec![1u8; 100_000])?;
    let dir = cache.directory().to_path_buf();
    assert!(dir.join("cache.db").exists());
    let clone = cache.clone();
    drop(cache);
    assert_eq!(clone.get::<Vec<u8>>("k")?.map(|v| v.len()), Some(100_000));
    drop(clone);
    assert!(!dir.exists(), "the temporary directory was left behind");
    Ok(())
}

/// Changes the size limit of the cache in `dir` from another process.
fn limit_elsewhere(dir: &std::path::Path, bytes: u64) -> Result<(), Box<dyn std::error::Error>> {
    let status = Command::new(HELPER)
        .arg("limit")
        .arg(dir)
        .arg(bytes.to_string())
        .status()?;
    assert!(status.success());
    Ok(())
}

#[test]
fn a_limit_another_process_set_is_used_here() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().size_limit(1 << 30).open(dir.path())?;
    for i in 0..50 {
        cache.set(&i, &vec![0u8; 2000])?;
    }
    // At once on request.
    limit_elsewhere(dir.path(), 0)?;
    assert_eq!(cache.reload_settings()?.size_limit, 0);
    cache.set("culls", &1)?;
    assert_eq!(cache.len()?, 51 - 10, "a write culls up to the cull limit");

    // By itself: the first write a second after the last reading.
    limit_elsewhere(dir.path(), 1 << 30)?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    cache.set("read again", &1)?;
    assert_eq!(cache.settings().size_limit, 1 << 30);
    cache.set("kept", &1)?;
    assert_eq!(cache.len()?, 43);
    Ok(())
}

/// `reset_setting` puts the default in place of every damaged value named,
/// keeps the stored settings it does not name, and refuses unknown names.
#[test]
fn reset_setting_replaces_damaged_values_by_defaults() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    Cache::builder()
        .cull_limit(3)
        .open(dir.path())?
        .set("kept", "value")?;
    let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    db.execute_batch(
        "UPDATE Settings SET value = 'huge' WHERE key = 'size_limit';
         UPDATE Settings SET value = -1 WHERE key = 'sqlite_mmap_size';",
    )?;
    drop(db);
    let mut builder = Cache::builder();
    let mut named = Vec::new();
    let cache = loop {
        match builder.clone().open(dir.path()).map_err(Error::into_root) {
            Ok(cache) => break cache,
            Err(Error::DamagedSetting { key, .. }) if named.len() < 5 => {
                builder = builder.reset_setting(&key);
                named.push(key);
            }
            Err(e) => return Err(e.into()),
        }
    };
    named.sort();
    assert_eq!(named, ["size_limit", "sqlite_mmap_size"]);
    let s = cache.settings();
    assert_eq!(
        (s.size_limit, s.sqlite_mmap_size, s.cull_limit),
        (1 << 30, 0, 3)
    );
    assert_eq!(cache.get::<String>("kept")?.as_deref(), Some("value"));
    drop(cache);
    Cache::open(dir.path())?;
    let err = Cache::builder()
        .reset_setting("no_such_setting")
        .open(dir.path())
        .err()
        .map(Error::into_root);
    assert!(matches!(err, Some(Error::InvalidInput { .. })), "{err:?}");
    Ok(())
}

/// Sets stored settings by SQL, as python-diskcache (or a hand) left them.
fn store_settings(
    dir: &std::path::Path,
    rows: &[(&str, &str)],
) -> Result<(), Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open(dir.join("cache.db"))?;
    for (key, value) in rows {
        db.execute(
            &format!("UPDATE Settings SET value = {value} WHERE key = ?1"),
            [key],
        )?;
    }
    Ok(())
}

/// The stored settings (metadata left out) as SQLite types them.
fn stored_settings(dir: &std::path::Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open(dir.join("cache.db"))?;
    let mut stmt = db.prepare(
        "SELECT key, typeof(value), value FROM Settings \
         WHERE key NOT IN ('count', 'size', 'hits', 'misses') ORDER BY key",
    )?;
    let rows = stmt.query_map([], |r| {
        let value: rusqlite::types::Value = r.get(2)?;
        Ok(format!(
            "{}={}:{value:?}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// python-diskcache stores what it was given: its FanoutCache divides the
/// size limit by the shard count (a float, fractional for 3 shards), and a
/// caller may pass floats for any number. Each opens, read as python uses
/// it, and an open leaves the stored values as they are.
#[test]
fn numbers_stored_as_reals_open_as_python_reads_them() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    Cache::open(dir.path())?.set("kept", &1)?;
    store_settings(
        dir.path(),
        &[
            ("size_limit", "357913941.3333333"),
            ("cull_limit", "2.5"),
            ("disk_min_file_size", "100.5"),
            ("statistics", "0.5"),
            ("tag_index", "0.0"),
            ("sqlite_cache_size", "-2000.7"),
            ("sqlite_mmap_size", "67108864.0"),
            ("sqlite_synchronous", "2.0"),
            ("sqlite_auto_vacuum", "1.0"),
        ],
    )?;
    let before = stored_settings(dir.path())?;
    let cache = Cache::open(dir.path())?;
    let s = cache.settings();
    // Volume >= 357913941.33 exactly when volume >= 357913942.
    assert_eq!(s.size_limit, 357_913_942);
    assert_eq!(s.cull_limit, 2);
    // A length < 100.5 exactly when it is < 101.
    assert_eq!(s.disk_min_file_size, 101);
    assert!(s.statistics, "python tests the value's truth");
    assert!(!s.tag_index);
    // SQLite reads `PRAGMA cache_size = -2000.7` as -2000.
    assert_eq!(s.sqlite_cache_size, -2000);
    assert_eq!(s.sqlite_mmap_size, 1 << 26);
    assert_eq!(s.sqlite_synchronous, Synchronous::Full);
    assert_eq!(cache.get::<i64>("kept")?, Some(1));
    cache.set("k", &vec![7u8; 100])?;
    cache.set("file", &vec![7u8; 101])?;
    assert!(!cache.read("k")?.ok_or("missing")?.is_mapped());
    assert!(cache.read("file")?.ok_or("missing")?.is_mapped());
    drop(cache);
    assert_eq!(
        stored_settings(dir.path())?,
        before,
        "the open rewrote them"
    );

    // An integral real, as python's FanoutCache(shards=8) stores it.
    store_settings(dir.path(), &[("size_limit", "134217728.0")])?;
    assert_eq!(Cache::open(dir.path())?.settings().size_limit, 1 << 27);
    // No limit at all: python's comparison with infinity never culls.
    store_settings(dir.path(), &[("size_limit", "9e999")])?;
    assert_eq!(Cache::open(dir.path())?.settings().size_limit, u64::MAX);
    Ok(())
}

/// Reals that python could not mean as a size or a count are damaged.
#[test]
fn negative_or_endless_reals_are_damaged() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    drop(Cache::open(dir.path())?);
    for (key, bad) in [
        ("size_limit", "-1.5"),
        ("cull_limit", "-0.5"),
        ("cull_limit", "9e999"),
        ("disk_min_file_size", "-3.0"),
        ("sqlite_cache_size", "9e999"),
        ("sqlite_mmap_size", "1e300"),
        ("statistics", "NULL"),
    ] {
        store_settings(dir.path(), &[(key, bad)])?;
        match Cache::open(dir.path()).map_err(Error::into_root) {
            Err(Error::DamagedSetting { key: named, .. }) => assert_eq!(named, key, "{bad}"),
            other => panic!("{key} = {bad}: {:?}", other.map(|c| c.settings())),
        }
        drop(Cache::builder().reset_setting(key).open(dir.path())?);
    }
    Ok(())
}

/// A minimum file size of 0, as python-diskcache allows: every byte string,
/// text and MessagePack value goes to a file, the empty ones too; numbers
/// stay in the database.
#[test]
fn a_min_file_size_of_zero_puts_every_bytes_text_and_packed_value_in_a_file()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(0).open(dir.path())?;
    assert_eq!(cache.settings().disk_min_file_size, 0);
    cache.set("b", b"x".as_slice())?;
    cache.set("empty", b"".as_slice())?;
    cache.set("t", "é")?;
    cache.set("packed", &("a", 1))?;
    cache.set("i", &3)?;
    cache.set("f", &0.5)?;
    cache.push(&"q", None, diskcache_shard::Side::Back)?;
    let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    let mut stmt = db.prepare("SELECT mode, filename IS NOT NULL FROM Cache WHERE key = ?1")?;
    for (key, mode, file) in [
        ("b", 2, true),
        ("empty", 2, true),
        ("t", 3, true),
        ("packed", 5, true),
        ("i", 1, false),
        ("f", 1, false),
    ] {
        let got: (i64, bool) = stmt.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        assert_eq!(got, (mode, file), "{key}");
    }
    assert_eq!(cache.get::<Vec<u8>>("b")?, Some(b"x".to_vec()));
    assert_eq!(cache.get::<Vec<u8>>("empty")?, Some(Vec::new()));
    assert_eq!(cache.read("empty")?.map(|b| b.len()), Some(0));
    assert_eq!(cache.get::<String>("t")?.as_deref(), Some("é"));
    assert_eq!(cache.get::<(String, i64)>("packed")?, Some(("a".into(), 1)));
    assert_eq!(cache.get::<i64>("i")?, Some(3));
    assert_eq!(
        cache
            .pull::<String>(None, diskcache_shard::Side::Front)?
            .map(|(_, v)| v),
        Some("q".into())
    );
    assert!(cache.check(false)?.is_clean());
    drop(cache);

    // Reopened, and changed while open: to 0 and back.
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.settings().disk_min_file_size, 0);
    cache.set_min_file_size(1 << 15)?;
    cache.set("inline", b"y".as_slice())?;
    assert!(!cache.read("inline")?.ok_or("missing")?.is_mapped());
    cache.set_min_file_size(0)?;
    cache.set("filed", b"yy".as_slice())?;
    assert!(cache.read("filed")?.ok_or("missing")?.is_mapped());
    Ok(())
}
