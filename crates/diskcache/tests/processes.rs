//! Two OS processes appending to one Deque of a FanoutCache lose nothing.

use std::collections::HashSet;
use std::process::Command;

use diskcache::{Deque, FanoutCache, Named};

const HELPER: &str = env!("CARGO_BIN_EXE_diskcache-test-helper");

#[test]
fn appends_from_two_processes_all_arrive() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().unwrap_or_default();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|id| {
            Command::new(HELPER)
                .args(["append", path, id, "300"])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        assert!(child.wait()?.success());
    }
    let cache = FanoutCache::open(dir.path())?;
    let jobs: Deque<String> = cache.deque("jobs")?;
    let items: Vec<String> = jobs.iter().collect::<Result<_, _>>()?;
    assert_eq!(items.len(), 600);
    let unique: HashSet<&String> = items.iter().collect();
    assert_eq!(unique.len(), 600, "an item was duplicated");
    // Each process's items keep their own order.
    for id in ["a", "b"] {
        let mine: Vec<u32> = items
            .iter()
            .filter_map(|s| s.strip_prefix(&format!("{id}-")))
            .map(|n| n.parse())
            .collect::<Result<_, _>>()?;
        assert_eq!(mine, (0..300).collect::<Vec<_>>());
    }
    Ok(())
}
