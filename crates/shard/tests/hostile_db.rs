//! A hostile cache.db must not make the cache read or delete files outside
//! its directory, nor its own database.

use std::fs;

use diskcache_shard::{Cache, Error, Problem};
use rusqlite::Connection;

#[test]
fn rows_pointing_outside_the_directory_are_refused() -> Result<(), Box<dyn std::error::Error>> {
    let outer = tempfile::tempdir()?;
    let victim = outer.path().join("victim.txt");
    fs::write(&victim, b"precious")?;
    let dir = outer.path().join("cache");
    let cache = Cache::builder().min_file_size(10).open(&dir)?;
    cache.set("good", &vec![1u8; 100])?;
    for (key, name) in [
        ("k1", "../victim.txt"),
        ("k2", victim.to_str().ok_or("path")?),
        ("k3", "cache.db"),
    ] {
        cache.set(key, &vec![0u8; 100])?;
        let db = Connection::open(dir.join("cache.db"))?;
        db.execute("UPDATE Cache SET filename = ?1 WHERE key = ?2", [name, key])?;
    }
    for key in ["k1", "k2", "k3"] {
        assert!(
            matches!(cache.get::<Vec<u8>>(key), Err(Error::Corrupt { .. })),
            "{key}"
        );
        assert!(
            matches!(cache.read(key), Err(Error::Corrupt { .. })),
            "{key}"
        );
    }
    // Deleting, overwriting, culling and clearing such rows leaves the files alone.
    cache.delete("k1")?;
    cache.set("k2", &1)?;
    let report = cache.check(true)?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::UnsafeFilename { .. }))
    );
    cache.clear()?;
    assert_eq!(fs::read(&victim)?, b"precious");
    assert!(dir.join("cache.db").exists());
    // The cache still works afterwards.
    cache.set("after", &2)?;
    assert_eq!(cache.get::<i32>("after")?, Some(2));
    Ok(())
}

#[test]
fn unknown_modes_and_pickles_are_clear_errors() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("pickled", &b"\x80\x04K\x01.".to_vec())?;
    cache.set("weird", &1)?;
    let db = Connection::open(dir.path().join("cache.db"))?;
    db.execute("UPDATE Cache SET mode = 4 WHERE key = 'pickled'", [])?;
    db.execute("UPDATE Cache SET mode = 99 WHERE key = 'weird'", [])?;
    assert!(matches!(
        cache.get::<Vec<u8>>("pickled"),
        Err(Error::Pickled { .. })
    ));
    assert!(matches!(
        cache.get::<i64>("weird"),
        Err(Error::Corrupt { .. })
    ));
    assert!(
        cache.delete("pickled")?,
        "a pickled entry can still be removed"
    );
    Ok(())
}

#[test]
fn a_garbage_database_is_an_error_not_a_panic() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("cache.db"), vec![0x5a; 8192])?;
    let result = Cache::open(dir.path()).map_err(Error::into_root);
    assert!(
        matches!(result, Err(Error::Sqlite { .. })),
        "{:?}",
        result.err()
    );
    Ok(())
}

#[test]
fn absurd_times_in_rows_are_handled() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("far", &1)?;
    cache.set("nan", &2)?;
    let db = Connection::open(dir.path().join("cache.db"))?;
    db.execute("UPDATE Cache SET expire_time = 1e300 WHERE key = 'far'", [])?;
    db.execute("UPDATE Cache SET expire_time = -5 WHERE key = 'nan'", [])?;
    let far = cache.get_entry::<i64>("far")?.ok_or("far is live")?;
    assert_eq!(far.value, 1);
    assert_eq!(
        far.expire_time, None,
        "an unrepresentable time is reported as none"
    );
    assert_eq!(
        cache.get::<i64>("nan")?,
        None,
        "a time in the past is expired"
    );
    Ok(())
}
