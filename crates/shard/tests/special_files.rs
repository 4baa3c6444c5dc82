//! Something other than a regular file where a value file belongs: a FIFO
//! (whose open would block until a writer comes), a link to `/dev/zero`
//! (endless bytes), the device node itself. `get` and `read` answer at
//! once with `Error::Corrupt` naming the file; nothing blocks, nothing is
//! read past the row's size.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error};
use rusqlite::Connection;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Longer than any answer takes; a read still blocked then fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

/// A cache in a new directory holding `key` in a value file; returns the
/// directory, its temporary parent and the file's relative name.
fn cache_with_file() -> Res<(tempfile::TempDir, PathBuf, String)> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cache");
    let cache = Cache::builder().min_file_size(100).open(&dir)?;
    cache.set("key", &vec![7u8; 1000])?;
    drop(cache);
    let db = Connection::open(dir.join("cache.db"))?;
    let name: String = db.query_row("SELECT filename FROM Cache WHERE key = 'key'", [], |r| {
        r.get(0)
    })?;
    Ok((tmp, dir, name))
}

/// Runs `f` on another thread and waits at most [`PATIENCE`] for it.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Res<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE)
        .map_err(|_| format!("{what} did not answer within {PATIENCE:?}").into())
}

/// Asserts `result` is `Error::Corrupt` with a message naming `name` and
/// the key (every test's entry is `"key"`).
fn corrupt_naming<T: std::fmt::Debug>(
    what: &str,
    result: diskcache_shard::Result<T>,
    name: &str,
) -> Res {
    match result {
        Err(Error::Corrupt { message }) => {
            assert!(
                message.contains(name),
                "{what}: {message:?} names no {name}"
            );
            assert!(
                message.contains("Text(\"key\")"),
                "{what}: {message:?} names no key"
            );
            Ok(())
        }
        other => Err(format!("{what}: expected Error::Corrupt, got {other:?}").into()),
    }
}

#[test]
fn a_fifo_in_place_of_a_value_file_is_corrupt_at_once() -> Res {
    let (_tmp, dir, name) = cache_with_file()?;
    let path = dir.join(&name);
    fs::remove_file(&path)?;
    let made = Command::new("mkfifo").arg(&path).status()?;
    assert!(made.success(), "mkfifo failed");
    let cache = Cache::builder().min_file_size(100).open(&dir)?;

    let (c, n) = (cache.clone(), name.clone());
    corrupt_naming("get", within("get", move || c.get::<Vec<u8>>("key"))?, &n)?;
    let c = cache.clone();
    corrupt_naming("read", within("read", move || c.read("key"))?, &name)?;
    // The FIFO is still there, and the cache works.
    assert!(fs::symlink_metadata(&path)?.file_type().is_fifo());
    cache.set("other", &vec![1u8; 1000])?;
    assert_eq!(cache.get::<Vec<u8>>("other")?, Some(vec![1u8; 1000]));
    // Deleting the entry removes the FIFO (it is inside the directory).
    assert!(cache.delete("key")?);
    assert!(fs::symlink_metadata(&path).is_err());
    Ok(())
}

/// Runs `shard-test-helper read-value <dir> key` with its address space
/// limited (so that a process reading an endless file dies of it instead
/// of filling the machine's memory) and at most [`PATIENCE`]; returns its
/// output.
fn read_in_child(dir: &Path) -> Res<String> {
    let helper = env!("CARGO_BIN_EXE_shard-test-helper");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" read-value \"$1\" key")
        .arg(helper)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the reader did not finish within {PATIENCE:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        status.success(),
        "the reader failed ({status}): {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// The reader's answers are both "corrupt", naming the file.
fn both_corrupt(output: &str, name: &str) {
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert!(lines[0].starts_with("get error corrupt cache"), "{output}");
    assert!(lines[1].starts_with("read error corrupt cache"), "{output}");
    assert!(lines.iter().all(|l| l.contains(name)), "{output}");
}

#[test]
fn a_link_to_dev_zero_is_corrupt_and_never_read() -> Res {
    let (_tmp, dir, name) = cache_with_file()?;
    let path = dir.join(&name);
    fs::remove_file(&path)?;
    symlink("/dev/zero", &path)?;
    both_corrupt(&read_in_child(&dir)?, &name);
    // In-process too, now that it is known not to read forever.
    let cache = Cache::open(&dir)?;
    corrupt_naming("get", cache.get::<Vec<u8>>("key"), &name)?;
    corrupt_naming("read", cache.read("key"), &name)?;
    Ok(())
}

#[test]
fn a_device_node_in_place_of_a_value_file_is_corrupt() -> Res {
    let (_tmp, dir, name) = cache_with_file()?;
    let path = dir.join(&name);
    fs::remove_file(&path)?;
    // The node of /dev/zero (character device 1, 5); making one needs
    // privileges a test may not have.
    let made = Command::new("mknod")
        .arg(&path)
        .args(["c", "1", "5"])
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mknod is not permitted here");
        return Ok(());
    }
    both_corrupt(&read_in_child(&dir)?, &name);
    let cache = Cache::open(&dir)?;
    corrupt_naming("get", cache.get::<Vec<u8>>("key"), &name)?;
    Ok(())
}

#[test]
fn a_file_of_another_size_than_its_row_is_corrupt() -> Res {
    let (_tmp, dir, name) = cache_with_file()?;
    let cache = Cache::open(&dir)?;
    for len in [999, 1001, 0] {
        fs::write(dir.join(&name), vec![7u8; len])?;
        corrupt_naming("get", cache.get::<Vec<u8>>("key"), &name)?;
        corrupt_naming("read", cache.read("key"), &name)?;
    }
    fs::write(dir.join(&name), vec![7u8; 1000])?;
    assert_eq!(cache.get::<Vec<u8>>("key")?, Some(vec![7u8; 1000]));
    Ok(())
}
