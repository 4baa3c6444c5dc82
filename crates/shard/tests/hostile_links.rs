//! Symbolic links planted below the cache directory, where a value folder
//! (`ab/`, `ab/cd/`) or a value file belongs, pointing at files outside:
//! no operation reads, writes, maps or unlinks anything outside through
//! them. A read through a link is `Error::Corrupt`; a write picks another
//! folder or fails; removals leave the outside alone; check reports each
//! link and, with fix, removes the link itself, never its target.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diskcache_shard::{Cache, Error, Problem, SetOptions};
use rusqlite::Connection;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The size of the values stored (files, with the minimum file size below).
const LEN: usize = 1000;

/// Every file under `dir` (links not followed) with its bytes, and every
/// folder, so that a test can check the outside is exactly as it was.
fn snapshot(dir: &Path) -> Res<BTreeMap<PathBuf, Option<Vec<u8>>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(path.clone());
                out.insert(path, None);
            } else {
                out.insert(path.clone(), Some(fs::read(&path)?));
            }
        }
    }
    Ok(out)
}

/// A cache storing values of `LEN` bytes in files.
fn open(dir: &Path) -> Res<Cache> {
    Ok(Cache::builder().min_file_size(100).open(dir)?)
}

/// The file name of `key`'s row.
fn file_of(dir: &Path, key: &str) -> Res<String> {
    let db = Connection::open(dir.join("cache.db"))?;
    Ok(
        db.query_row("SELECT filename FROM Cache WHERE key = ?1", [key], |r| {
            r.get(0)
        })?,
    )
}

/// Outside bytes of the same size as a stored value.
fn precious() -> Vec<u8> {
    b"precious outside bytes "
        .iter()
        .copied()
        .cycle()
        .take(LEN)
        .collect()
}

/// Where in a value file's name the link goes.
#[derive(Clone, Copy, Debug)]
enum At {
    /// `ab -> outside/top` (holding `cd/<file>`).
    Top,
    /// `ab/cd -> outside/sub` (holding `<file>`).
    Sub,
    /// `ab/cd/<file> -> outside/file`.
    File,
}

/// A cache holding `key` (and a second entry, `other`, in another
/// folder when possible) whose value file is reached through a link at
/// `at` to an outside copy holding bytes of the same size.
struct Planted {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    outside: PathBuf,
    cache: Cache,
    before: BTreeMap<PathBuf, Option<Vec<u8>>>,
}

fn plant(at: At) -> Res<Planted> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cache");
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside)?;
    let cache = open(&dir)?;
    cache.set_with("key", &vec![7u8; LEN], &SetOptions::new().tag("t"))?;
    let name = file_of(&dir, "key")?;
    let parts: Vec<&str> = name.split('/').collect();
    let [top, sub, file] = parts[..] else {
        return Err(format!("unexpected value file name {name}").into());
    };
    match at {
        At::Top => {
            fs::create_dir_all(outside.join("top").join(sub))?;
            fs::write(outside.join("top").join(sub).join(file), precious())?;
            fs::remove_dir_all(dir.join(top))?;
            symlink(outside.join("top"), dir.join(top))?;
        }
        At::Sub => {
            fs::create_dir_all(outside.join("sub"))?;
            fs::write(outside.join("sub").join(file), precious())?;
            fs::remove_dir_all(dir.join(top).join(sub))?;
            symlink(outside.join("sub"), dir.join(top).join(sub))?;
        }
        At::File => {
            fs::write(outside.join("file"), precious())?;
            fs::remove_file(dir.join(&name))?;
            symlink(outside.join("file"), dir.join(&name))?;
        }
    }
    let before = snapshot(&outside)?;
    Ok(Planted {
        _tmp: tmp,
        dir,
        outside,
        cache,
        before,
    })
}

impl Planted {
    /// The outside is as it was planted: every file there, bytes equal.
    fn untouched(&self) -> Res {
        let now = snapshot(&self.outside)?;
        assert_eq!(now, self.before, "a file outside the cache changed");
        assert!(
            self.before
                .values()
                .any(|v| v.as_deref() == Some(&precious()[..]))
        );
        Ok(())
    }
}

const ALL: [At; 3] = [At::Top, At::Sub, At::File];

#[test]
fn reads_through_a_link_are_corrupt_never_the_outside_bytes() -> Res {
    for at in ALL {
        let p = plant(at)?;
        match p.cache.get::<Vec<u8>>("key") {
            Err(Error::Corrupt { message }) => {
                assert!(message.contains("value file"), "{at:?}: {message}");
            }
            other => panic!("{at:?}: get gave {other:?}"),
        }
        match p.cache.read("key") {
            Err(Error::Corrupt { .. }) => {}
            Ok(Some(bytes)) => panic!("{at:?}: read gave {} bytes", bytes.len()),
            other => panic!("{at:?}: read gave {other:?}"),
        }
        p.untouched()?;
    }
    Ok(())
}

#[test]
fn delete_clear_cull_and_evict_never_unlink_through_a_link() -> Res {
    type Removal = fn(&Cache) -> diskcache_shard::Result<()>;
    let removals: [(&str, Removal); 4] = [
        ("delete", |c| c.delete("key").map(drop)),
        ("clear", |c| c.clear().map(drop)),
        ("cull", |c| {
            c.set_size_limit(1)?;
            c.cull().map(drop)
        }),
        ("evict", |c| c.evict("t").map(drop)),
    ];
    for at in ALL {
        for (what, remove) in removals {
            let p = plant(at)?;
            remove(&p.cache)?;
            p.untouched()?;
            assert_eq!(p.cache.get::<Vec<u8>>("key")?, None, "{what} at {at:?}");
            // The cache still works.
            p.cache.set_size_limit(1 << 30)?;
            p.cache.set("after", &vec![1u8; LEN])?;
            assert_eq!(p.cache.get::<Vec<u8>>("after")?, Some(vec![1u8; LEN]));
            p.untouched()?;
        }
    }
    Ok(())
}

#[test]
fn a_hostile_row_naming_a_file_through_a_linked_folder_reads_and_removes_nothing() -> Res {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cache");
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside)?;
    fs::write(outside.join("precious.txt"), precious())?;
    let cache = open(&dir)?;
    cache.set("key", &vec![7u8; LEN])?;
    let name = file_of(&dir, "key")?;
    fs::remove_file(dir.join(&name))?;
    // A folder name no value file of this cache uses: the link is all
    // there is under it.
    let top = if name.starts_with("zz") { "yy" } else { "zz" };
    symlink(&outside, dir.join(top))?;
    let db = Connection::open(dir.join("cache.db"))?;
    db.execute(
        "UPDATE Cache SET filename = ?1, size = ?2 WHERE key = 'key'",
        rusqlite::params![format!("{top}/precious.txt"), LEN as i64],
    )?;
    let before = snapshot(&outside)?;
    assert!(matches!(
        cache.get::<Vec<u8>>("key"),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(cache.read("key"), Err(Error::Corrupt { .. })));
    assert!(cache.delete("key")?);
    assert_eq!(snapshot(&outside)?, before);
    assert_eq!(fs::read(outside.join("precious.txt"))?, precious());
    Ok(())
}

#[test]
fn set_never_writes_through_a_linked_value_folder() -> Res {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cache");
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside)?;
    fs::write(outside.join("keep.txt"), precious())?;
    let cache = open(&dir)?;
    // Every top value folder is a link: no value file can be written.
    let tops: Vec<String> = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    for top in &tops {
        symlink(&outside, dir.join(top))?;
    }
    let before = snapshot(&outside)?;
    let result = cache.set("key", &vec![7u8; LEN]);
    assert!(result.is_err(), "a value file was written: {result:?}");
    assert_eq!(snapshot(&outside)?, before);
    assert_eq!(cache.get::<Vec<u8>>("key")?, None);
    // Every second-level folder is a link.
    for top in &tops {
        fs::remove_file(dir.join(top))?;
        fs::create_dir(dir.join(top))?;
        for sub in &tops {
            symlink(&outside, dir.join(top).join(sub))?;
        }
    }
    let result = cache.set("key", &vec![7u8; LEN]);
    assert!(result.is_err(), "a value file was written: {result:?}");
    assert_eq!(snapshot(&outside)?, before);
    // Half the top folders links again: a set picks another folder.
    for (i, top) in tops.iter().enumerate() {
        fs::remove_dir_all(dir.join(top))?;
        if i % 2 == 0 {
            symlink(&outside, dir.join(top))?;
        }
    }
    for i in 0..20 {
        cache.set(&format!("k{i}"), &vec![i as u8; LEN])?;
        assert_eq!(
            cache.get::<Vec<u8>>(&format!("k{i}"))?,
            Some(vec![i as u8; LEN])
        );
    }
    assert_eq!(snapshot(&outside)?, before);
    Ok(())
}

#[test]
fn check_reports_each_link_and_fix_removes_the_link_not_its_target() -> Res {
    for at in ALL {
        let p = plant(at)?;
        // An unnamed link where a value file belongs, too.
        let cache_file = file_of(&p.dir, "key")?;
        let stray_folder = if cache_file.starts_with("0f") {
            "0e"
        } else {
            "0f"
        };
        fs::create_dir_all(p.dir.join(stray_folder).join("0f"))?;
        let stray = p
            .dir
            .join(stray_folder)
            .join("0f")
            .join("0123456789abcdef0123456789ab.val");
        symlink(p.outside.join("keep.txt"), &stray)?;
        fs::write(p.outside.join("keep.txt"), precious())?;
        let before = snapshot(&p.outside)?;

        let report = p.cache.check(false)?;
        let links: Vec<&PathBuf> = report
            .problems
            .iter()
            .filter_map(|pr| match pr {
                Problem::SymbolicLink { path } => Some(path),
                _ => None,
            })
            .collect();
        assert_eq!(links.len(), 2, "{at:?}: {:?}", report.problems);
        assert!(links.contains(&&stray), "{at:?}: {:?}", report.problems);
        for link in &links {
            assert!(fs::symlink_metadata(link)?.file_type().is_symlink());
        }

        let fixed = p.cache.check_with(true, Duration::ZERO)?;
        // The same problems, and the folders the removed links leave empty.
        for problem in &report.problems {
            assert!(fixed.problems.contains(problem), "{at:?}: {problem}");
        }
        assert!(
            fixed
                .problems
                .iter()
                .all(|pr| report.problems.contains(pr) || matches!(pr, Problem::EmptyFolder { .. })),
            "{at:?}: {:?}",
            fixed.problems
        );
        for link in &links {
            assert!(fs::symlink_metadata(link).is_err(), "{at:?}: {link:?} kept");
        }
        assert_eq!(snapshot(&p.outside)?, before, "{at:?}");
        assert_eq!(p.cache.get::<Vec<u8>>("key")?, None);
        let again = p.cache.check(false)?;
        assert!(again.is_clean(), "{at:?}: {:?}", again.problems);
    }
    Ok(())
}
