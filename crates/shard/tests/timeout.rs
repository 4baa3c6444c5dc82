//! A lock held by another process: a typed timeout, or a retry that waits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error};

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

fn hold(
    dir: &std::path::Path,
    millis: u64,
) -> Result<std::process::Child, Box<dyn std::error::Error>> {
    let mut child = Command::new(HELPER)
        .args([
            "hold",
            dir.to_str().unwrap_or_default(),
            &millis.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    assert_eq!(line.trim(), "locked");
    Ok(child)
}

#[test]
fn a_held_lock_times_out_with_a_typed_error() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .timeout(Duration::from_millis(100))
        .open(dir.path())?;
    cache.set("before", &1)?;
    let mut child = hold(dir.path(), 1500)?;
    let started = Instant::now();
    let err = cache.set("k", &1).err();
    assert!(matches!(err, Some(Error::Timeout { .. })), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "waited for the whole hold"
    );
    // Reads are never blocked by a writer in WAL mode.
    assert_eq!(cache.get::<i32>("before")?, Some(1));
    assert!(child.wait()?.success());
    cache.set("k", &1)?;
    Ok(())
}

#[test]
fn retry_waits_past_the_timeout() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .timeout(Duration::from_millis(50))
        .retry(true)
        .open(dir.path())?;
    let mut child = hold(dir.path(), 400)?;
    cache.set("k", &2)?;
    assert_eq!(
        cache.get::<i32>("holder")?,
        Some(1),
        "the set ran after the holder committed"
    );
    assert!(child.wait()?.success());
    Ok(())
}
