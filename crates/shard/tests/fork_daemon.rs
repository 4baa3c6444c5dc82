//! A daemonising parent: it forks and exits at once, dropping its handle,
//! while the child goes on using the cache. Every increment the child
//! acknowledged is seen by another process, and the child sees that
//! process's write.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use diskcache_shard::Cache;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn the_child_of_a_parent_that_exits_keeps_every_acknowledged_write()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?;
    let mut helper = Command::new(HELPER)
        .args(["daemon", path, "150"])
        .stdout(Stdio::piped())
        .spawn()?;
    let out = helper.stdout.take().ok_or("stdout")?;
    // The parent exits right after the fork; the child holds the pipe.
    assert!(helper.wait()?.success(), "the parent failed");
    let mut lines = BufReader::new(out).lines();
    let mut acked = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(n) = line.strip_prefix("acked ") {
            acked = Some(n.parse::<i64>()?);
        }
        if line == "ready" {
            break;
        }
    }
    let acked = acked.ok_or("the child acknowledged nothing")?;
    assert_eq!(acked, 150);
    let cache = Cache::open(dir.path())?;
    assert_eq!(
        cache.get::<i64>("n")?,
        Some(acked),
        "writes the child acknowledged are missing"
    );
    cache.set("ping", &1)?;
    let rest: Vec<String> = lines.collect::<Result<_, _>>()?;
    assert_eq!(
        rest,
        ["saw ping"],
        "the child never saw this process's write"
    );
    assert_eq!(cache.get::<i64>("pong")?, Some(1));
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
