//! Several OS processes incrementing one key of a FanoutCache get the exact total.

use std::process::Command;

use diskcache_fanout::FanoutCache;

const HELPER: &str = env!("CARGO_BIN_EXE_fanout-test-helper");

#[test]
fn increments_from_processes_add_up_exactly() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fresh");
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(HELPER)
                .args(["incr", path.to_str().unwrap_or_default(), "300"])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        assert!(child.wait()?.success());
    }
    let cache = FanoutCache::open(&path)?;
    assert_eq!(cache.get::<i64>("counter")?, Some(900));
    assert_eq!(cache.shards().len(), 8);
    Ok(())
}
