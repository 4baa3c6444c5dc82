//! Two processes writing one cache without a pause keep its write-ahead log
//! bounded: the log is restarted even though some writer always has a
//! frame newer than the last checkpoint.

use std::process::Command;
use std::time::Duration;

use diskcache_shard::Cache;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

/// Far above the 45-76 MiB the log reaches between restarts (the 32 MiB
/// that call for a checkpoint, and what the writers add while it runs),
/// far below what it reaches without restarts (about 1 GiB within seconds),
/// and the bound the stress harness holds the log to. A restart skipped
/// whenever the other writer's transaction was open let the log double:
/// 48-164 MiB, and one CI run saw 106 MiB, over the 96 MiB this bound was
/// first set to.
const BOUND: u64 = 128 << 20;

#[test]
fn log_stays_bounded_while_two_processes_write() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    drop(Cache::open(dir.path())?);
    let path = dir.path().to_str().ok_or("path")?;
    let per = "40000";
    let mut children: Vec<_> = ["0", "1"]
        .iter()
        .map(|id| Command::new(HELPER).args(["churn", path, id, per]).spawn())
        .collect::<Result<_, _>>()?;
    let wal = dir.path().join("cache.db-wal");
    let mut largest = 0;
    // Bounded: at most 20 minutes of 10 ms samples.
    for _ in 0..120_000 {
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        if children
            .iter_mut()
            .map(|c| c.try_wait())
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .all(Option::is_some)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for mut child in children {
        assert!(child.wait()?.success(), "a writer failed");
    }
    assert!(largest <= BOUND, "the log grew to {} MiB", largest >> 20);
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.len()?, 2000);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
