//! Forks while another thread of the parent writes in a loop: each child
//! writes at once (it does not wait for a lock the writing thread held at
//! the fork), and the parent's writes go on.

use std::process::Command;

use diskcache_shard::Cache;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn children_forked_during_writes_write_at_once() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?;
    let out = Command::new(HELPER)
        .args(["fork-busy", path, "12"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let writes: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("writes "))
        .ok_or("no count of writes")?
        .parse()?;
    assert!(writes > 0, "the parent's writer never wrote");
    let cache = Cache::open(dir.path())?;
    for c in 0..12i64 {
        assert_eq!(cache.get::<i64>(&format!("child-{c}"))?, Some(c));
    }
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
