//! Several OS processes open a new directory at once and write to it.

use std::process::Command;

use diskcache_shard::Cache;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn processes_opening_a_new_directory_together_all_succeed() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fresh");
    let per = 150;
    let children: Vec<_> = (0..6)
        .map(|id| {
            Command::new(HELPER)
                .args([
                    "work",
                    path.to_str().unwrap_or_default(),
                    &id.to_string(),
                    &per.to_string(),
                ])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        let status = child.wait()?;
        assert!(status.success(), "a process failed: {status}");
    }
    let cache = Cache::open(&path)?;
    assert_eq!(
        cache.get::<i64>("counter")?,
        Some(6 * per),
        "an increment was lost"
    );
    for id in 0..6u32 {
        for i in 0..per as u32 {
            assert_eq!(
                cache.get::<u32>(&format!("w{id}-{i}"))?,
                Some(id * 1_000_000 + i)
            );
        }
    }
    assert_eq!(cache.len()?, 6 * per as u64 + 1);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

#[test]
fn queue_items_pushed_by_processes_are_pulled_once() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let children: Vec<_> = (0..3)
        .map(|id| {
            Command::new(HELPER)
                .args([
                    "push",
                    dir.path().to_str().unwrap_or_default(),
                    &id.to_string(),
                    "100",
                ])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        assert!(child.wait()?.success());
    }
    let mut seen = std::collections::HashSet::new();
    while let Some((_, item)) = cache.pull::<String>(Some("q"), diskcache_shard::Side::Front)? {
        assert!(seen.insert(item), "an item was pulled twice");
        assert!(seen.len() <= 300);
    }
    assert_eq!(seen.len(), 300);
    Ok(())
}
