//! A fork inside `transact`: the child cannot join its parent's
//! transaction (its calls fail, never answer `Ok` and lose the write), and
//! once the closure has returned it writes in transactions of its own.

use std::process::Command;

use diskcache_shard::Cache;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn a_child_forked_inside_transact_never_loses_an_acknowledged_write()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?;
    let out = Command::new(HELPER)
        .args(["fork-transact", path])
        .output()?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = Cache::open(dir.path())?;
    assert_eq!(
        cache.get::<i64>("parent-in")?,
        Some(1),
        "the parent's commit is lost"
    );
    assert_eq!(cache.get::<i64>("child-in")?, None);
    assert_eq!(cache.get::<i64>("child-after")?, Some(3));
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
