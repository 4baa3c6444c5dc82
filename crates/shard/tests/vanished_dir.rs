//! A cache directory removed while the cache is open: a call that needs a
//! new connection fails at once with an I/O error naming the directory,
//! instead of waiting for the pool's timeout.

use diskcache_shard::{Cache, Error};

#[test]
fn a_removed_directory_is_an_io_error() -> Result<(), Box<dyn std::error::Error>> {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("cache");
    let cache = Cache::open(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    match cache.set("k", &1) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, dir);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(!dir.exists(), "nothing was created in its place");
    Ok(())
}
