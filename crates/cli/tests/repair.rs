//! `check` finds a value file gone missing and an orphan file, exits 1;
//! `check --fix` repairs both and exits 0; a second check is clean. A
//! damaged stored setting stops every command with a message that says how
//! to repair it, and `check --fix` replaces it by its default. Damage
//! inside cache.db is repaired by VACUUM where it can be, else by
//! recovering the readable rows into a new database.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{TestResult, diskcache};
use diskcache::Cache;

fn value_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(value_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "val") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

#[test]
fn check_reports_then_fix_repairs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("kept", &vec![1u8; 100_000])?;
    cache.set("lost", &vec![2u8; 100_000])?;
    cache.close()?;
    let files = value_files(dir.path())?;
    assert_eq!(files.len(), 2);
    let lost = Cache::open(dir.path())?
        .read("lost")?
        .ok_or("no lost")?
        .into_vec();
    let lost_file = files
        .iter()
        .find(|f| std::fs::read(f).is_ok_and(|b| b == lost))
        .ok_or("no file holds the value")?;
    std::fs::remove_file(lost_file)?;
    // An orphan beside the kept value, old enough that no writer can be
    // about to commit it.
    let kept = files
        .iter()
        .find(|f| *f != lost_file)
        .ok_or("no kept file")?;
    let orphan = kept.with_file_name("0123456789abcdef0123456789abcdef.val");
    std::fs::write(&orphan, b"left behind")?;
    let old = SystemTime::now() - Duration::from_secs(600);
    std::fs::File::options()
        .write(true)
        .open(&orphan)?
        .set_modified(old)?;

    let found = diskcache("check", dir.path(), &[])?;
    assert_eq!(found.code, Some(1), "{}", found.stderr);
    let report = found.text();
    assert!(report.contains("missing value file"), "{report}");
    assert!(report.contains("value file no row names"), "{report}");
    // The lost file's folder is empty now too (unless both values share it).
    let n = report.lines().count() - 1;
    assert!(
        report.contains(&format!("\n{n} problems; run with --fix")),
        "{report}"
    );
    assert!(orphan.exists(), "a check without --fix removed a file");

    let fixed = diskcache("check", dir.path(), &["--fix"])?;
    assert_eq!(fixed.code, Some(0), "{}", fixed.text());
    // Fixing empties more folders, which it reports and removes as well.
    let m = fixed.text().lines().count() - 1;
    assert!(m >= n, "{}", fixed.text());
    let repaired = format!("\n{m} problems, {m} repaired\n");
    assert!(fixed.text().ends_with(&repaired), "{}", fixed.text());
    assert!(!orphan.exists());

    let again = diskcache("check", dir.path(), &[])?;
    assert_eq!((again.code, again.text()), (Some(0), "clean\n".to_owned()));
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.get::<Vec<u8>>("lost")?, None);
    assert_eq!(cache.get::<Vec<u8>>("kept")?, Some(vec![1u8; 100_000]));
    Ok(())
}

#[test]
fn check_fix_replaces_damaged_settings_of_every_shard() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fanout = diskcache::FanoutCache::builder()
        .shards(2)
        .open(dir.path())?;
    fanout.set("kept", "value")?;
    drop(fanout);
    for (shard, sql) in [
        (
            "000",
            "UPDATE Settings SET value = 'lots' WHERE key = 'size_limit'",
        ),
        (
            "001",
            "UPDATE Settings SET value = NULL WHERE key = 'eviction_policy'",
        ),
        (
            "001",
            "UPDATE Settings SET value = -1 WHERE key = 'disk_min_file_size'",
        ),
    ] {
        rusqlite::Connection::open(dir.path().join(shard).join("cache.db"))?.execute(sql, [])?;
    }

    for command in ["info", "check"] {
        let refused = diskcache(command, dir.path(), &[])?;
        assert_eq!(refused.code, Some(2), "{command}: {}", refused.text());
        assert!(
            refused.stderr.contains("size_limit") && refused.stderr.contains("check DIR --fix"),
            "{command}: {}",
            refused.stderr
        );
    }

    let fixed = diskcache("check", dir.path(), &["--fix"])?;
    assert_eq!(fixed.code, Some(0), "{}{}", fixed.text(), fixed.stderr);
    let report = fixed.text();
    for (shard, key) in [
        ("000", "size_limit"),
        ("001", "eviction_policy"),
        ("001", "disk_min_file_size"),
    ] {
        assert!(
            report.contains(&format!("{shard}: stored setting {key} was damaged")),
            "{report}"
        );
    }
    assert!(report.ends_with("3 problems, 3 repaired\n"), "{report}");

    let again = diskcache("check", dir.path(), &[])?;
    assert_eq!(again.code, Some(0), "{}", again.text());
    let fanout = diskcache::FanoutCache::open(dir.path())?;
    assert_eq!(fanout.get::<String>("kept")?.as_deref(), Some("value"));
    for shard in fanout.shards() {
        let s = shard.settings();
        assert_eq!(s.size_limit, 1 << 29, "the default split over 2 shards");
        assert_eq!(s.disk_min_file_size, 1 << 15);
    }
    Ok(())
}

/// Overwrites `bytes` at `offset` of `file`.
fn overwrite(file: &Path, offset: usize, bytes: &[u8]) -> TestResult {
    let mut data = std::fs::read(file)?;
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(file, data)?;
    Ok(())
}

/// A closed cache of `n` entries of 300 bytes each, held in the database.
fn filled(dir: &Path, n: i64) -> TestResult {
    let cache = Cache::open(dir)?;
    for i in 0..n {
        cache.set(&i, &vec![(i % 251) as u8; 300])?;
    }
    cache.close()?;
    let wal = dir.join("cache.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0));
    Ok(())
}

#[test]
fn check_fix_repairs_a_damaged_database_header_by_vacuum() -> TestResult {
    let dir = tempfile::tempdir()?;
    filled(dir.path(), 100)?;
    // The largest root page in auto-vacuum mode.
    overwrite(&dir.path().join("cache.db"), 52, &[0xff, 0xff])?;

    let found = diskcache("check", dir.path(), &[])?;
    assert_eq!(found.code, Some(1), "{}", found.text());
    assert!(found.text().contains("max rootpage"), "{}", found.text());

    let fixed = diskcache("check", dir.path(), &["--fix"])?;
    assert_eq!(fixed.code, Some(0), "{}{}", fixed.text(), fixed.stderr);
    let report = fixed.text();
    assert!(
        report.contains("\ncache.db: damaged, repaired by VACUUM\n"),
        "{report}"
    );
    assert!(report.ends_with("1 problems, 1 repaired\n"), "{report}");

    let again = diskcache("check", dir.path(), &[])?;
    assert_eq!((again.code, again.text()), (Some(0), "clean\n".to_owned()));
    let cache = Cache::open(dir.path())?;
    for i in 0..100i64 {
        assert_eq!(
            cache.get::<Vec<u8>>(&i)?,
            Some(vec![(i % 251) as u8; 300]),
            "{i}"
        );
    }
    Ok(())
}

#[test]
fn check_fix_recovers_a_damaged_table_into_a_new_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let n = 400;
    filled(dir.path(), n)?;
    let db = dir.path().join("cache.db");
    // A leaf of the Cache table: a child of its root, an interior page.
    let (root, page_size): (i64, i64) = {
        let conn = rusqlite::Connection::open(&db)?;
        let root = conn.query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'Cache'",
            [],
            |r| r.get(0),
        )?;
        (root, conn.query_row("PRAGMA page_size", [], |r| r.get(0))?)
    };
    let data = std::fs::read(&db)?;
    let page_size = usize::try_from(page_size)?;
    let page = &data[(usize::try_from(root)? - 1) * page_size..][..page_size];
    assert_eq!(page[0], 0x05, "the root is no interior page");
    let cells = usize::from(u16::from_be_bytes([page[3], page[4]]));
    let at = 12 + 2 * (cells / 2);
    let cell = usize::from(u16::from_be_bytes([page[at], page[at + 1]]));
    let leaf = u32::from_be_bytes([page[cell], page[cell + 1], page[cell + 2], page[cell + 3]]);
    overwrite(&db, (usize::try_from(leaf)? - 1) * page_size, &[0xee; 64])?;

    let fixed = diskcache("check", dir.path(), &["--fix"])?;
    assert_eq!(fixed.code, Some(0), "{}{}", fixed.text(), fixed.stderr);
    let report = fixed.text();
    let line = report
        .lines()
        .find(|l| l.starts_with("cache.db: damaged, "))
        .ok_or_else(|| format!("no repair line: {report}"))?;
    assert!(
        line.contains("rows recovered into a new database (its count said 400)")
            && line.contains(", damaged copy kept as cache.db.damaged-"),
        "{line}"
    );
    let kept = line
        .rsplit(' ')
        .next()
        .ok_or("no name of the damaged copy")?;
    assert!(dir.path().join(kept).is_file(), "{kept}");
    let rows: u64 = line
        .trim_start_matches("cache.db: damaged, ")
        .split(' ')
        .next()
        .ok_or("no count")?
        .parse()?;
    assert!(rows > 0 && rows < 400, "{line}");

    let again = diskcache("check", dir.path(), &[])?;
    assert_eq!((again.code, again.text()), (Some(0), "clean\n".to_owned()));
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.len()?, rows);
    assert_eq!(cache.get::<Vec<u8>>(&0)?, Some(vec![0u8; 300]));
    assert_eq!(
        cache.get::<Vec<u8>>(&399)?,
        Some(vec![(399 % 251) as u8; 300])
    );
    Ok(())
}
