//! A writer alone checkpoints the log itself once it passes SQLite's
//! default threshold, so the log stays short.

use diskcache_shard::Cache;

#[test]
fn a_lone_writer_checkpoints_its_log() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let value = vec![3u8; 8000];
    // About 2,500 pages of 4 KiB through the log.
    for i in 0..1200 {
        cache.set(&(i % 300), &value)?;
    }
    let runs = cache.counters().checkpoints;
    assert!(runs >= 1, "no checkpoint in 1200 writes");
    let log = std::fs::metadata(dir.path().join("cache.db-wal"))?.len();
    assert!(log < 8 << 20, "the log grew to {log} bytes");
    Ok(())
}
