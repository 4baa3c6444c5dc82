//! check(fix): missing files, wrong sizes, orphans, empty folders, metadata.

use std::fs;
use std::time::{Duration, SystemTime};

use diskcache_shard::{Cache, Problem};
use rusqlite::Connection;

#[test]
fn check_finds_and_fixes_every_kind_of_damage() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(100).open(dir.path())?;
    for i in 0..4 {
        cache.set(&i, &vec![i as u8; 500])?;
    }
    cache.set("small", &1)?;
    assert!(cache.check(false)?.is_clean());

    let db = Connection::open(dir.path().join("cache.db"))?;
    let file_of = |key: i64| -> rusqlite::Result<String> {
        db.query_row("SELECT filename FROM Cache WHERE key = ?1", [key], |r| {
            r.get(0)
        })
    };
    // 0: file deleted; 1: file truncated; metadata skewed; an orphan; an empty folder.
    fs::remove_file(dir.path().join(file_of(0)?))?;
    fs::write(dir.path().join(file_of(1)?), b"short")?;
    db.execute(
        "UPDATE Settings SET value = value + 5 WHERE key = 'count'",
        [],
    )?;
    let orphan = dir
        .path()
        .join("ab")
        .join("cd")
        .join("0123456789abcdef0123456789ab.val");
    fs::create_dir_all(orphan.parent().ok_or("no parent")?)?;
    fs::write(&orphan, b"orphan")?;
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&orphan)?
        .set_modified(old)?;
    fs::create_dir_all(dir.path().join("ef").join("01"))?;
    // A file that is not a value file is never touched.
    fs::write(dir.path().join("notes.txt"), b"keep me")?;

    // The damaged values are errors or misses, never torn values.
    assert_eq!(
        cache.get::<Vec<u8>>(&0)?,
        None,
        "a deleted file reads as a miss"
    );
    assert!(matches!(
        cache.get::<Vec<u8>>(&1),
        Err(diskcache_shard::Error::Corrupt { .. })
    ));
    assert!(matches!(
        cache.read(&1),
        Err(diskcache_shard::Error::Corrupt { .. })
    ));

    let report = cache.check(false)?;
    let has = |f: &dyn Fn(&Problem) -> bool| report.problems.iter().any(f);
    assert!(
        has(&|p| matches!(p, Problem::MissingFile { .. })),
        "{report:?}"
    );
    assert!(
        has(&|p| matches!(
            p,
            Problem::WrongSize {
                actual: 5,
                recorded: 500,
                ..
            }
        )),
        "{report:?}"
    );
    assert!(
        has(&|p| matches!(p, Problem::CountMismatch { .. })),
        "{report:?}"
    );
    assert!(
        has(&|p| matches!(p, Problem::OrphanFile { path } if *path == orphan)),
        "{report:?}"
    );
    assert!(
        has(&|p| matches!(p, Problem::EmptyFolder { .. })),
        "{report:?}"
    );

    cache.check(true)?;
    let after = cache.check(false)?;
    assert!(after.is_clean(), "{after:?}");
    assert!(!orphan.exists());
    assert!(dir.path().join("notes.txt").exists());
    assert_eq!(cache.get::<Vec<u8>>(&0)?, None);
    assert_eq!(
        cache.get::<Vec<u8>>(&2)?,
        Some(vec![2u8; 500]),
        "unaffected entries stay"
    );
    assert_eq!(cache.get::<i64>("small")?, Some(1));
    // A whole file of another size keeps its entry, its size corrected
    // (as python-diskcache does): the file's bytes are what it reads now.
    assert_eq!(
        cache.read(&1)?.map(|v| v.into_vec()).as_deref(),
        Some(&b"short"[..])
    );
    assert_eq!(cache.len()?, 4);
    Ok(())
}

#[test]
fn a_young_orphan_is_reported_but_kept() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let young = dir
        .path()
        .join("12")
        .join("34")
        .join("00000000000000000000000000aa.val");
    fs::create_dir_all(young.parent().ok_or("no parent")?)?;
    fs::write(&young, b"in flight")?;
    let report = cache.check(true)?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::OrphanFile { .. }))
    );
    assert!(
        young.exists(),
        "a file a writer may be about to commit was removed"
    );
    Ok(())
}
