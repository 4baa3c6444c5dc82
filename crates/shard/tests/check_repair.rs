//! check(fix) on damage inside cache.db: what VACUUM repairs is repaired
//! by VACUUM; a damaged table page is recovered into a new database with
//! the damaged file kept beside it. And a value file whose size disagrees
//! with its row keeps its entry, with the size corrected.

use std::fs;
use std::path::{Path, PathBuf};

use diskcache_shard::{Cache, DatabaseRepair, Error, Problem};
use rusqlite::Connection;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Overwrites `bytes` at `offset` of `file`.
fn overwrite(file: &Path, offset: usize, bytes: &[u8]) -> TestResult {
    let mut data = fs::read(file)?;
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    fs::write(file, data)?;
    Ok(())
}

/// The database's log must be empty, so that damage written to the file
/// is what SQLite reads.
fn assert_no_log(dir: &Path) {
    let wal = dir.join("cache.db-wal");
    assert!(
        fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the log still holds pages"
    );
}

/// The page number of a leaf in the middle of the `Cache` table's b-tree
/// (a child of its root, which must be an interior page).
fn middle_leaf_of_cache(db: &Path) -> Result<(u64, usize), Box<dyn std::error::Error>> {
    let conn = Connection::open(db)?;
    let root: i64 = conn.query_row(
        "SELECT rootpage FROM sqlite_master WHERE name = 'Cache'",
        [],
        |r| r.get(0),
    )?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    drop(conn);
    let data = fs::read(db)?;
    let page_size = usize::try_from(page_size)?;
    let start = (usize::try_from(root)? - 1) * page_size;
    let page = &data[start..start + page_size];
    assert_eq!(page[0], 0x05, "the Cache table's root is no interior page");
    let cells = usize::from(u16::from_be_bytes([page[3], page[4]]));
    assert!(cells >= 4, "too few leaves: {cells}");
    let at = 12 + 2 * (cells / 2);
    let cell = usize::from(u16::from_be_bytes([page[at], page[at + 1]]));
    let child = u32::from_be_bytes([page[cell], page[cell + 1], page[cell + 2], page[cell + 3]]);
    Ok((u64::from(child), page_size))
}

/// A cache of `n` entries of 300 bytes each held in the database (many
/// leaf pages), closed.
fn filled(dir: &Path, n: i64) -> TestResult {
    let cache = Cache::open(dir)?;
    for i in 0..n {
        cache.set(&i, &vec![(i % 251) as u8; 300])?;
    }
    cache.close()?;
    assert_no_log(dir);
    Ok(())
}

#[test]
fn a_damaged_header_field_is_repaired_by_vacuum() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(1000).open(dir.path())?;
    for i in 0..200i64 {
        cache.set(
            &i,
            &vec![(i % 251) as u8; if i % 10 == 0 { 5000 } else { 200 }],
        )?;
    }
    cache.close()?;
    assert_no_log(dir.path());
    // The largest root page in auto-vacuum mode.
    overwrite(&dir.path().join("cache.db"), 52, &[0xff, 0xff])?;

    let cache = Cache::open(dir.path())?;
    let found = cache.check(false)?;
    assert!(
        found
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Integrity(line) if line.contains("max rootpage"))),
        "{found:?}"
    );
    assert_eq!(found.database, None);
    let fixed = cache.check(true)?;
    assert_eq!(fixed.database, Some(DatabaseRepair::Vacuumed), "{fixed:?}");
    let again = cache.check(false)?;
    assert!(again.is_clean(), "{again:?}");
    for i in 0..200i64 {
        let want = vec![(i % 251) as u8; if i % 10 == 0 { 5000 } else { 200 }];
        assert_eq!(cache.get::<Vec<u8>>(&i)?, Some(want), "entry {i}");
    }
    assert_eq!(cache.len()?, 200);
    // No damaged copy: nothing was swapped.
    assert!(damaged_copies(dir.path())?.is_empty());
    Ok(())
}

fn damaged_copies(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("cache.db.damaged-"))
        {
            found.push(path);
        }
    }
    Ok(found)
}

#[test]
fn a_damaged_table_page_is_recovered_into_a_new_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let n = 400;
    filled(dir.path(), n)?;
    let db = dir.path().join("cache.db");
    let (leaf, page_size) = middle_leaf_of_cache(&db)?;
    let original = fs::read(&db)?;
    // The leaf's header and cell pointers become garbage.
    let start = usize::try_from(leaf - 1)? * page_size;
    overwrite(&db, start, &[0xee; 64])?;

    let cache = Cache::open(dir.path())?;
    // Reads of the entries on good pages work before the repair.
    assert_eq!(cache.get::<Vec<u8>>(&0)?, Some(vec![0u8; 300]));
    let fixed = cache.check(true)?;
    let Some(DatabaseRepair::Recovered {
        rows,
        recorded,
        settings,
        damaged,
    }) = fixed.database.clone()
    else {
        panic!("not recovered: {fixed:?}");
    };
    assert!(
        fixed
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Integrity(_))),
        "{fixed:?}"
    );
    assert_eq!(recorded, Some(n as u64));
    assert!(rows > 0 && rows < n as u64, "{rows} rows recovered");
    // A leaf holds about a dozen rows of 300 bytes; only its rows are lost.
    assert!(rows + 20 >= n as u64, "{rows} rows recovered");
    assert!(settings >= 15, "{settings} settings rows");
    assert_eq!(damaged.parent(), Some(dir.path()));
    assert_eq!(fs::read(&damaged)?, original_with_damage(&original, start));
    assert_eq!(damaged_copies(dir.path())?, vec![damaged.clone()]);
    assert!(!dir.path().join("cache.db.recovered").exists());

    // The new database is sound, and the handle works on it.
    let after = cache.check(false)?;
    assert!(after.is_clean(), "{after:?}");
    let mut present = 0;
    for i in 0..n {
        if let Some(v) = cache.get::<Vec<u8>>(&i)? {
            assert_eq!(v, vec![(i % 251) as u8; 300], "entry {i}");
            present += 1;
        }
    }
    assert_eq!(present, rows);
    assert_eq!(cache.len()?, rows);
    cache.set("after", &1)?;
    assert_eq!(cache.get::<i64>("after")?, Some(1));
    drop(cache);
    // Reopened, with the settings and indexes of a cache.
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.len()?, rows + 1);
    assert!(cache.check(false)?.is_clean());
    let conn = Connection::open(&db)?;
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in [
        "Cache_key_raw",
        "Cache_expire_time",
        "Cache_store_time",
        "Settings_count_insert",
        "Settings_size_update",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    let vacuum: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    assert_eq!(vacuum, 1);
    Ok(())
}

/// `original` with the bytes written by the test's damage at `start`.
fn original_with_damage(original: &[u8], start: usize) -> Vec<u8> {
    let mut bytes = original.to_vec();
    bytes[start..start + 64].copy_from_slice(&[0xee; 64]);
    bytes
}

#[test]
fn a_file_of_another_size_keeps_its_entry_with_the_size_corrected() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(100).open(dir.path())?;
    for i in 0..5i64 {
        cache.set_reader(&i, &mut &vec![i as u8; 1000][..], &Default::default())?;
    }
    let db = Connection::open(dir.path().join("cache.db"))?;
    let file_of = |key: i64| -> rusqlite::Result<String> {
        db.query_row("SELECT filename FROM Cache WHERE key = ?1", [key], |r| {
            r.get(0)
        })
    };
    let stored_size = || -> rusqlite::Result<i64> {
        db.query_row("SELECT value FROM Settings WHERE key = 'size'", [], |r| {
            r.get(0)
        })
    };
    assert_eq!(stored_size()?, 5000);
    // One shorter, one longer: whole files of another size.
    fs::write(dir.path().join(file_of(1)?), b"shorter")?;
    fs::write(dir.path().join(file_of(3)?), vec![9u8; 1500])?;
    for key in [1i64, 3] {
        assert!(
            matches!(cache.read(&key), Err(Error::Corrupt { .. })),
            "{key}"
        );
    }

    let fixed = cache.check(true)?;
    for (actual, recorded) in [(7u64, 1000u64), (1500, 1000)] {
        assert!(
            fixed.problems.iter().any(|p| matches!(
                p,
                Problem::WrongSize { actual: a, recorded: r, .. } if *a == actual && *r == recorded
            )),
            "{fixed:?}"
        );
    }
    let after = cache.check(false)?;
    assert!(after.is_clean(), "{after:?}");
    assert_eq!(cache.len()?, 5, "every entry stays");
    let read = |key: i64| -> Result<Option<Vec<u8>>, Error> {
        Ok(cache.read(&key)?.map(|v| v.into_vec()))
    };
    assert_eq!(read(1)?.as_deref(), Some(&b"shorter"[..]));
    assert_eq!(read(3)?, Some(vec![9u8; 1500]));
    assert_eq!(read(2)?, Some(vec![2u8; 1000]));
    assert_eq!(stored_size()?, 3000 + 7 + 1500);
    let sizes: i64 = db.query_row("SELECT sum(size) FROM Cache", [], |r| r.get(0))?;
    assert_eq!(sizes, 3000 + 7 + 1500);
    let page_bytes: i64 = db.query_row(
        "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(
        cache.volume()?,
        u64::try_from(page_bytes + 3000 + 7 + 1500)?
    );
    Ok(())
}

#[test]
fn files_that_are_missing_or_no_regular_files_still_lose_their_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(100).open(dir.path())?;
    for i in 0..3i64 {
        cache.set_reader(&i, &mut &vec![i as u8; 1000][..], &Default::default())?;
    }
    let db = Connection::open(dir.path().join("cache.db"))?;
    let file_of = |key: i64| -> rusqlite::Result<String> {
        db.query_row("SELECT filename FROM Cache WHERE key = ?1", [key], |r| {
            r.get(0)
        })
    };
    let gone = dir.path().join(file_of(0)?);
    fs::remove_file(&gone)?;
    let linked = dir.path().join(file_of(1)?);
    fs::remove_file(&linked)?;
    let outside = tempfile::NamedTempFile::new()?;
    fs::write(outside.path(), vec![1u8; 1000])?;
    std::os::unix::fs::symlink(outside.path(), &linked)?;
    cache.check(true)?;
    assert_eq!(cache.len()?, 1);
    assert!(cache.read(&0)?.is_none());
    assert!(cache.read(&1)?.is_none());
    assert_eq!(cache.read(&2)?.map(|v| v.into_vec()), Some(vec![2u8; 1000]));
    assert_eq!(fs::read(outside.path())?, vec![1u8; 1000]);
    Ok(())
}

#[test]
fn recovery_is_refused_while_another_connection_reads_the_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    filled(dir.path(), 400)?;
    let db = dir.path().join("cache.db");
    let (leaf, page_size) = middle_leaf_of_cache(&db)?;
    overwrite(&db, usize::try_from(leaf - 1)? * page_size, &[0xee; 64])?;
    // The repair waits for the other connection as long as the handle's
    // timeout, then gives up.
    let cache = Cache::builder()
        .timeout(std::time::Duration::from_millis(300))
        .open(dir.path())?;
    // Another connection commits to the log and keeps reading from it.
    let other = Connection::open(&db)?;
    other.execute("INSERT INTO Settings (key, value) VALUES ('probe', 1)", [])?;
    other.execute_batch("BEGIN")?;
    let _: i64 = other.query_row("SELECT count(*) FROM Settings", [], |r| r.get(0))?;
    let inode = |path: &Path| -> std::io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(fs::metadata(path)?.ino())
    };
    let before = inode(&db)?;

    let refused = cache.check(true);
    assert!(
        matches!(&refused, Err(Error::Io { source, .. }) if source.to_string().contains("another connection")),
        "{refused:?}"
    );
    assert!(damaged_copies(dir.path())?.is_empty());
    assert!(!dir.path().join("cache.db.recovered").exists());
    assert_eq!(inode(&db)?, before, "the database was replaced");

    // Once the other connection is gone, the repair goes through.
    other.execute_batch("COMMIT")?;
    drop(other);
    let fixed = cache.check(true)?;
    assert!(
        matches!(fixed.database, Some(DatabaseRepair::Recovered { .. })),
        "{fixed:?}"
    );
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
