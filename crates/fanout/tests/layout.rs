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

/// Shard folders with no record are python-diskcache's: a default open
/// uses python's hash and the count on disk, so it finds the keys where
/// python put them and writes new ones where python looks.
#[test]
fn python_shard_folders_open_with_pythons_hash_by_default() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    // Place keys as python's FanoutCache(shards=5) would.
    let shards: Vec<_> = (0..5)
        .map(|i| diskcache_shard::Cache::open(dir.path().join(format!("{i:03}"))))
        .collect::<Result<_, _>>()?;
    for i in 0..50i64 {
        let key = diskcache_shard::Key::Text(format!("k{i}"));
        shards[ShardHash::Adler32.shard_of(&key, 5)].set(&key, &i)?;
    }
    drop(shards);

    // A hash or count that contradicts the folders is refused, and nothing
    // is written: no record, no new shard.
    let err = FanoutCache::builder()
        .hash(ShardHash::Xxh3)
        .open(dir.path())
        .err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
    let err = FanoutCache::builder().shards(8).open(dir.path()).err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
    assert!(!dir.path().join("fanout.cfg").exists());
    assert!(!dir.path().join("005").exists());

    let cache = FanoutCache::open(dir.path())?;
    assert_eq!(cache.shard_hash(), ShardHash::Adler32);
    assert_eq!(cache.shards().len(), 5);
    for i in 0..50i64 {
        assert_eq!(cache.get::<i64>(&format!("k{i}"))?, Some(i), "k{i}");
    }
    // Overwriting a key replaces python's value instead of adding a second.
    assert!(cache.set("k0", &-1)?);
    assert_eq!(cache.len()?, 50);
    drop(cache);

    // Recorded as python's: the explicit python hash opens it, xxh3 not.
    let again = FanoutCache::builder()
        .hash(ShardHash::Adler32)
        .open(dir.path())?;
    assert_eq!(again.get::<i64>("k0")?, Some(-1));
    let err = FanoutCache::builder()
        .hash(ShardHash::Xxh3)
        .open(dir.path())
        .err();
    assert!(matches!(err, Some(Error::Layout { .. })), "{err:?}");
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
