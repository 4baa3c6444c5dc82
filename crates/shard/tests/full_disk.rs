//! A full disk, for real: a small tmpfs is mounted, filled with a filler
//! file, and the cache used on it with the read memo on and off. No
//! process dies of a signal (the commit feed is written through a shared
//! map, whose first store into a page without a block raised SIGBUS); a
//! set fails with an error that says the disk is full; entries stored
//! before stay readable; once space is freed the cache works again.
//!
//! Mounting needs root; where it is refused the tests say they were
//! skipped and pass.

#![cfg(target_os = "linux")]

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error};
use rusqlite::Connection;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Entries stored before the disk fills.
const EARLIER: i64 = 20;
/// The most sets tried on the full disk before one must have failed.
const MAX_SETS: i64 = 5000;

/// A tmpfs mounted on a fresh temporary folder, unmounted (lazily, if it
/// is busy) when dropped.
struct Mounted {
    point: PathBuf,
    _parent: tempfile::TempDir,
}

impl Mounted {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); `None`
    /// when mounting is refused here.
    fn tmpfs(size: &str) -> Res<Option<Mounted>> {
        let parent = tempfile::tempdir()?;
        let point = parent.path().join("mnt");
        fs::create_dir(&point)?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&point)
            .stderr(Stdio::null())
            .status();
        if !mounted.is_ok_and(|s| s.success()) {
            return Ok(None);
        }
        Ok(Some(Mounted {
            point,
            _parent: parent,
        }))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Busy when this process still holds a file there open (the WAL
        // index stays open for the process's life): then lazily.
        let unmounted = Command::new("umount")
            .arg(&self.point)
            .stderr(Stdio::null())
            .status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.point).status();
        }
    }
}

/// Fills the filesystem of `dir` with the file `path` until a write
/// fails for want of space.
fn fill(path: &Path) -> Res {
    let mut file = fs::File::create(path)?;
    let chunk = vec![0x5au8; 64 << 10];
    // 4 MiB in 64 KiB writes is 64 of them; the bound leaves room.
    for _ in 0..1000 {
        match file.write(&chunk) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err("the filler never met a full disk".into())
}

/// Whether `e` says the disk is full, as SQLite or the filesystem says it.
fn says_full(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => source.raw_os_error() == Some(28),
        // SQLITE_FULL
        Error::Sqlite { code, .. } => *code == Some(13),
        _ => false,
    }
}

/// Small sets until one fails; that one must say the disk is full.
/// Returns the keys that were stored.
fn set_until_full(cache: &Cache, prefix: &str) -> Res<Vec<String>> {
    let mut stored = Vec::new();
    for i in 0..MAX_SETS {
        let key = format!("{prefix}{i}");
        match cache.set(&key, &vec![i as u8; 200]) {
            Ok(()) => stored.push(key),
            Err(e) => {
                assert!(says_full(&e), "a set failed but not for want of space: {e}");
                assert!(!e.to_string().is_empty());
                return Ok(stored);
            }
        }
    }
    Err(format!("{MAX_SETS} sets on a full disk all succeeded").into())
}

/// Runs the helper's `sets <dir> <prefix> <n>` in its own process, so that
/// a signal kills it and not the test; returns its output.
fn sets_in_child(dir: &Path, prefix: &str, n: u32) -> Res<String> {
    let helper = env!("CARGO_BIN_EXE_shard-test-helper");
    let mut child = Command::new(helper)
        .arg("sets")
        .arg(dir)
        .arg(prefix)
        .arg(n.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the helper did not finish within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        status.signal(),
        None,
        "the helper died of signal {:?} after: {stdout}{stderr}",
        status.signal()
    );
    Ok(stdout + &stderr)
}

/// Stores the earlier entries, then makes SQLite's next writer restart the
/// log, so that writes on the full disk reuse the log's frames (SQLite
/// then needs no new block for a while, and what a set writes besides is
/// what meets the full disk).
fn store_earlier(cache: &Cache, dir: &Path) -> Res {
    for i in 0..EARLIER {
        cache.set(&format!("earlier{i}"), &i)?;
    }
    let db = Connection::open(dir.join("cache.db"))?;
    db.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    Ok(())
}

fn earlier_readable(cache: &Cache) -> Res {
    for i in 0..EARLIER {
        assert_eq!(cache.get::<i64>(&format!("earlier{i}"))?, Some(i));
    }
    Ok(())
}

/// Once space is freed: sets (inline and in files) and gets work again.
fn works_again(cache: &Cache, stored: &[String]) -> Res {
    earlier_readable(cache)?;
    for key in stored {
        assert!(cache.get::<Vec<u8>>(key)?.is_some(), "{key} lost");
    }
    for i in 0..50i64 {
        cache.set(&format!("again{i}"), &i)?;
        assert_eq!(cache.get::<i64>(&format!("again{i}"))?, Some(i));
    }
    cache.set("big again", &vec![3u8; 256 << 10])?;
    assert_eq!(
        cache.get::<Vec<u8>>("big again")?,
        Some(vec![3u8; 256 << 10])
    );
    let report = cache.check(false)?;
    assert!(report.is_clean(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn a_full_disk_with_the_memo_on_is_an_error_never_a_signal() -> Res {
    let Some(mnt) = Mounted::tmpfs("4m")? else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return Ok(());
    };
    let dir = mnt.point.join("cache");
    let cache = Cache::open(&dir)?;
    store_earlier(&cache, &dir)?;
    // The feed is made anew on the full disk by the next process that
    // writes: a file that cannot get its blocks.
    fs::remove_file(dir.join("cache.db-memo"))?;
    let filler = mnt.point.join("filler");
    fill(&filler)?;

    let out = sets_in_child(&dir, "child", 8)?;
    eprintln!("on the full disk, a new process: {out}");
    assert!(out.contains("set 0"), "{out}");
    for line in out.lines().filter(|l| l.contains(" error ")) {
        assert!(
            line.contains("full") || line.contains("No space"),
            "a set failed but not for want of space: {line}"
        );
    }
    // A handle opened on the full disk (its feed cannot be made either)
    // and the one opened before.
    let fresh = Cache::open(&dir)?;
    earlier_readable(&fresh)?;
    let mut stored = set_until_full(&fresh, "fresh")?;
    stored.extend(set_until_full(&cache, "old")?);
    let big = fresh.set("big", &vec![1u8; 256 << 10]);
    assert!(big.as_ref().is_err_and(says_full), "{big:?}");
    earlier_readable(&fresh)?;
    earlier_readable(&cache)?;

    fs::remove_file(&filler)?;
    works_again(&fresh, &stored)?;
    works_again(&cache, &stored)?;
    let out = sets_in_child(&dir, "later", 8)?;
    assert_eq!(out.matches(" ok").count(), 8, "{out}");
    // Each handle sees the other's writes (the memo is never stale).
    for i in 0..10i64 {
        cache.set("shared", &i)?;
        assert_eq!(fresh.get::<i64>("shared")?, Some(i));
        fresh.set("shared", &(i + 100))?;
        assert_eq!(cache.get::<i64>("shared")?, Some(i + 100));
    }
    drop(fresh);
    drop(cache);
    drop(mnt);
    Ok(())
}

#[test]
fn a_full_disk_with_the_memo_off_is_an_error() -> Res {
    let Some(mnt) = Mounted::tmpfs("4m")? else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return Ok(());
    };
    let dir = mnt.point.join("cache");
    let cache = Cache::builder().memo_bytes(0).open(&dir)?;
    store_earlier(&cache, &dir)?;
    let filler = mnt.point.join("filler");
    fill(&filler)?;

    let stored = set_until_full(&cache, "small")?;
    let big = cache.set("big", &vec![1u8; 256 << 10]);
    assert!(big.as_ref().is_err_and(says_full), "{big:?}");
    earlier_readable(&cache)?;

    fs::remove_file(&filler)?;
    works_again(&cache, &stored)?;
    drop(cache);
    drop(mnt);
    Ok(())
}
