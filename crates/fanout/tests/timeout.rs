//! A shard locked by another process: writes to it report "not stored"
//! within the timeout, writes to other shards go through.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diskcache_fanout::FanoutCache;
use diskcache_shard::CacheBuilder;

const HELPER: &str = env!("CARGO_BIN_EXE_fanout-test-helper");

#[test]
fn a_locked_shard_reports_not_stored() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder()
        .shards(4)
        .cache(CacheBuilder::new().timeout(Duration::from_millis(20)))
        .open(dir.path())?;
    let mut child = Command::new(HELPER)
        .args([
            "hold",
            dir.path().to_str().unwrap_or_default(),
            "locked-key",
            "1500",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    assert_eq!(line.trim(), "locked");

    let locked = cache.shard_for("locked-key")?.directory().to_path_buf();
    let started = Instant::now();
    assert!(
        !cache.set("locked-key", &1)?,
        "a write to the locked shard was stored"
    );
    assert_eq!(cache.incr("locked-key", 1, Some(0))?, None);
    assert!(started.elapsed() < Duration::from_millis(1000));
    // A key on another shard is stored at once.
    let other = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| {
            cache
                .shard_for(k.as_str())
                .map(|s| s.directory() != locked)
                .unwrap_or(false)
        })
        .ok_or("no key on another shard")?;
    assert!(cache.set(other.as_str(), &2)?);
    assert!(child.wait()?.success());
    assert!(cache.set("locked-key", &1)?);
    Ok(())
}
