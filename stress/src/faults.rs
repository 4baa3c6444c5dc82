//! Faults: value files deleted or truncated behind the cache's back,
//! cache.db overwritten with garbage or truncated, a hostile row naming a file outside
//! the directory, the disk filling up, the directory turning read-only.
//! Each must give a clear error or a repaired cache, never a panic, never
//! damage outside the directory, never loss of unaffected entries.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use diskcache_shard::{Cache, Error};

use crate::record;
use crate::{Outcome, Res};

/// Stores `n` whole values `k0…` (large enough for files) and returns them.
fn fill(cache: &Cache, n: u64, len: usize) -> Res<Vec<String>> {
    let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        cache.set(k, &record::make(k, 0, i as u64, len))?;
    }
    Ok(keys)
}

/// Every key in `keys` still holds its whole value.
fn intact(cache: &Cache, keys: &[String], violations: &mut Vec<String>, what: &str) {
    for k in keys {
        match cache.get::<Vec<u8>>(k) {
            Ok(Some(v)) => {
                if let Err(e) = record::check(k, &v) {
                    violations.push(format!("{what}: {e}"));
                }
            }
            Ok(None) => violations.push(format!("{what}: unaffected entry {k} was lost")),
            Err(e) => violations.push(format!("{what}: unaffected entry {k}: {e}")),
        }
    }
}

/// The value file of `key`, read from cache.db with a plain SQLite client.
fn file_of(dir: &Path, key: &str) -> Res<String> {
    let db = rusqlite::Connection::open(dir.join("cache.db"))?;
    Ok(
        db.query_row("SELECT filename FROM Cache WHERE key = ?1", [key], |r| {
            r.get(0)
        })?,
    )
}

/// Runs every fault; how many were tried, and the violations.
pub fn run() -> Res<Outcome> {
    let mut violations = Vec::new();
    let mut tried = 0;
    let mut skipped: Vec<String> = Vec::new();

    // 1, 2: a value file deleted, another truncated.
    {
        let dir = tempfile::tempdir()?;
        let cache = Cache::builder().min_file_size(1024).open(dir.path())?;
        let keys = fill(&cache, 6, 5000)?;
        let deleted = file_of(dir.path(), "k0")?;
        let truncated = file_of(dir.path(), "k1")?;
        fs::remove_file(dir.path().join(&deleted))?;
        fs::write(dir.path().join(&truncated), b"short")?;
        tried += 2;
        if !matches!(cache.get::<Vec<u8>>("k0"), Ok(None)) {
            violations.push("a deleted value file did not read as a miss".into());
        }
        if !matches!(cache.get::<Vec<u8>>("k1"), Err(Error::Corrupt { .. })) {
            violations.push("a truncated value file was not reported as corrupt".into());
        }
        cache.check_with(true, std::time::Duration::ZERO)?;
        if !cache.check(false)?.is_clean() {
            violations.push("check(fix) left problems after deleted/truncated files".into());
        }
        intact(
            &cache,
            &keys[2..],
            &mut violations,
            "deleted/truncated files",
        );
    }

    // 3: cache.db overwritten with garbage.
    {
        let outer = tempfile::tempdir()?;
        let dir = outer.path().join("c");
        let neighbour = outer.path().join("neighbour.txt");
        fs::write(&neighbour, b"keep")?;
        drop(fill(&Cache::open(&dir)?, 3, 100)?);
        fs::write(dir.join("cache.db"), vec![0x42; 16384])?;
        let _ = fs::remove_file(dir.join("cache.db-wal"));
        let _ = fs::remove_file(dir.join("cache.db-shm"));
        tried += 1;
        match Cache::open(&dir).map_err(Error::into_root) {
            Err(Error::Sqlite { .. }) => {}
            Ok(_) => violations.push("a garbage cache.db opened without error".into()),
            Err(e) => violations.push(format!("a garbage cache.db gave an unexpected error: {e}")),
        }
        if fs::read(&neighbour)? != b"keep" {
            violations.push("a file beside the cache changed".into());
        }
    }

    // 4: cache.db truncated to half (as by a crash of the disk, not of us).
    {
        let dir = tempfile::tempdir()?;
        let cache = Cache::builder().min_file_size(1024).open(dir.path())?;
        fill(&cache, 200, 300)?;
        cache.close()?;
        let db = dir.path().join("cache.db");
        let len = fs::metadata(&db)?.len();
        fs::OpenOptions::new()
            .write(true)
            .open(&db)?
            .set_len(len / 2)?;
        tried += 1;
        // Opening may work (SQLite reads pages lazily); using the cache
        // must then give errors or whole values, never a panic or a torn
        // value, and check() must report the damage.
        if let Ok(cache) = Cache::open(dir.path()) {
            for i in 0..200 {
                let k = format!("k{i}");
                if let Ok(Some(Err(e))) = cache
                    .get::<Vec<u8>>(&k)
                    .map(|v| v.map(|v| record::check(&k, &v)))
                {
                    violations.push(format!("truncated cache.db: {e}"));
                }
            }
            if cache.check(false).is_ok_and(|r| r.is_clean()) {
                violations.push("a truncated cache.db checked clean".into());
            }
        }
    }

    // 5: a hostile row naming a file outside the directory.
    {
        let outer = tempfile::tempdir()?;
        let dir = outer.path().join("c");
        let victim = outer.path().join("victim.txt");
        fs::write(&victim, b"precious")?;
        let cache = Cache::builder().min_file_size(1024).open(&dir)?;
        let keys = fill(&cache, 4, 5000)?;
        // A plain SQLite client, which is what an attacker has, points k0's
        // row at a file outside the directory.
        let db = rusqlite::Connection::open(dir.join("cache.db"))?;
        db.execute(
            "UPDATE Cache SET filename = '../victim.txt' WHERE key = 'k0'",
            [],
        )?;
        tried += 1;
        if !matches!(cache.get::<Vec<u8>>("k0"), Err(Error::Corrupt { .. })) {
            violations.push("a row naming a file outside the directory was not refused".into());
        }
        cache.delete("k0")?;
        cache.check(true)?;
        intact(&cache, &keys[1..], &mut violations, "hostile row");
        cache.clear()?;
        if fs::read(&victim)? != b"precious" {
            violations.push("a file outside the cache directory was touched".into());
        }
    }

    // 6, 7: the disk fills up; the directory turns read-only. Both need a
    // small filesystem: mounted directly as root, else inside a user and
    // mount namespace of our own (`unshare -r -m`), where an unprivileged
    // user may mount a tmpfs.
    match mounted_faults() {
        Ok((n, found)) => {
            tried += n;
            violations.extend(found);
        }
        Err(_) => match in_namespace() {
            Ok((n, found)) => {
                tried += n;
                violations.extend(found);
            }
            Err(e) => skipped.push(format!(
                "disk full and read-only: cannot mount a small filesystem ({e})"
            )),
        },
    }

    Ok(Outcome {
        ops: 0,
        procs: 1,
        kills: 0,
        faults: tried,
        violations,
        note: if skipped.is_empty() {
            String::new()
        } else {
            format!("skipped: {}", skipped.join("; "))
        },
    })
}

/// Mounts a 3 MiB tmpfs and runs the disk-full and read-only faults on it;
/// how many were tried and the violations.
pub fn mounted_faults() -> Res<(u32, Vec<String>)> {
    let mount = tempfile::tempdir()?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mount.path())
        .stderr(Stdio::null())
        .status()?;
    if !mounted.success() {
        return Err("mount failed".into());
    }
    let mut violations = Vec::new();
    let result = full_and_read_only(mount.path(), &mut violations);
    let unmounted = Command::new("umount")
        .arg(mount.path())
        .stderr(Stdio::null())
        .status();
    if !unmounted.is_ok_and(|s| s.success()) {
        let _ = Command::new("umount").arg("-l").arg(mount.path()).status();
    }
    Ok((result?, violations))
}

/// Runs [`mounted_faults`] in a child inside a new user and mount namespace.
fn in_namespace() -> Res<(u32, Vec<String>)> {
    let exe = std::env::current_exe()?;
    let out = Command::new("unshare")
        .args(["-r", "-m"])
        .arg(&exe)
        .arg("worker-faults-mount")
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err("unshare -r -m failed".into());
    }
    let text = String::from_utf8(out.stdout)?;
    let mut tried = 0;
    let mut violations = Vec::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("tried", n)) => tried = n.parse()?,
            Some(("violation", v)) => violations.push(v.to_string()),
            _ => {}
        }
    }
    Ok((tried, violations))
}

/// The child's side of [`in_namespace`].
pub fn worker_mounted() -> Res<()> {
    let (tried, violations) = mounted_faults()?;
    println!("tried {tried}");
    for v in violations {
        println!("violation {v}");
    }
    Ok(())
}

fn full_and_read_only(mount: &Path, violations: &mut Vec<String>) -> Res<u32> {
    let dir = mount.join("c");
    let cache = Cache::builder().min_file_size(1024).open(&dir)?;
    let keys = fill(&cache, 5, 4000)?;
    // Space an operator can free later: a full disk blocks even deletes
    // (each commit needs room in the log).
    let ballast = mount.join("ballast");
    fs::write(&ballast, vec![0u8; 512 << 10])?;
    // Write until the filesystem is full: an error, not a panic.
    let mut full = false;
    for i in 0..10_000u64 {
        let k = format!("fill{i}");
        if cache.set(&k, &record::make(&k, 1, i, 20_000)).is_err() {
            full = true;
            break;
        }
    }
    if !full {
        violations.push("3 MiB filesystem never filled".into());
    }
    intact(&cache, &keys, violations, "disk full");
    // Room again: the cache works again.
    fs::remove_file(&ballast)?;
    cache.clear()?;
    if cache.set("after", &1).is_err() {
        violations.push("writes failed after space was freed".into());
    }
    let keys = fill(&cache, 3, 2000)?;
    // A filesystem cannot turn read-only under open files: close first.
    drop(cache);
    let ro = Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(mount)
        .stderr(Stdio::null())
        .status()?;
    if !ro.success() {
        violations.push("could not remount the test filesystem read-only".into());
        return Ok(1);
    }
    match Cache::open(&dir) {
        Err(_) => {} // a clear error: the directory cannot be written
        Ok(cache) => {
            if cache.set("ro", &record::make("ro", 1, 0, 2000)).is_ok() {
                violations.push("a write to a read-only directory succeeded".into());
            }
        }
    }
    let rw = Command::new("mount")
        .args(["-o", "remount,rw,bind"])
        .arg(mount)
        .stderr(Stdio::null())
        .status()?;
    if rw.success() {
        let cache = Cache::open(&dir)?;
        intact(&cache, &keys, violations, "read-only");
    }
    Ok(2)
}
