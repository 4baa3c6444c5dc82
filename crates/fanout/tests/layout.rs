//! The shard count and hash are fixed at creation; reopening with others
//! is a clear error, never silent data loss.

use diskcache_fanout::{Error, FanoutCache, ShardHash};

#[test]
fn reopening_with_another_layout_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let cache = FanoutCache::builder().shards(4).open(dir.path())?;
        cache.set("k", &1)?;
    }
    let err = FanoutCache::builder().shards(8).open(dir.path()).err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
    let err = FanoutCache::builder()
        .hash(ShardHash::Adler32)
        .open(dir.path())
        .err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
    let again = FanoutCache::open(dir.path())?;
    assert_eq!(again.shards().len(), 4, "the recorded count is used");
    assert_eq!(again.get::<i32>("k")?, Some(1));
    Ok(())
}

#[test]
fn shard_folders_without_a_record_give_their_count() -> Result<(), Box<dyn std::error::Error>> {
    // python-diskcache's FanoutCache leaves no record: the folders tell.
    let dir = tempfile::tempdir()?;
    for i in 0..3 {
        diskcache_shard::Cache::open(dir.path().join(format!("{i:03}")))?;
    }
    let err = FanoutCache::builder().shards(8).open(dir.path()).err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
    let cache = FanoutCache::builder()
        .hash(ShardHash::Adler32)
        .open(dir.path())?;
    assert_eq!(cache.shards().len(), 3);
    Ok(())
}

#[test]
fn zero_shards_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    assert!(matches!(
        FanoutCache::builder().shards(0).open(dir.path()),
        Err(Error::Layout { .. })
    ));
    Ok(())
}

/// A damaged record is an error, never a shard count taken on trust (a
/// huge one would make thousands of folders and databases).
#[test]
fn a_damaged_record_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    FanoutCache::builder()
        .shards(2)
        .open(dir.path())?
        .set("k", &1)?;
    for text in [
        "shards = 1000000\nhash = xxh3\n",
        "shards = 0\nhash = xxh3\n",
        "shards = -3\nhash = xxh3\n",
        "shards = 2\nhash = md5\n",
        "\u{0}\u{1}garbage",
        "",
    ] {
        std::fs::write(dir.path().join("fanout.cfg"), text)?;
        let err = FanoutCache::open(dir.path()).err();
        assert!(
            matches!(err, Some(Error::Layout { .. })),
            "{text:?}: {err:?}"
        );
    }
    assert!(!dir.path().join("002").exists(), "no shard was made");
    Ok(())
}
