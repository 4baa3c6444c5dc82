//! The crate's error type: the shard's, which has the cases a sharded
//! cache adds ([`Error::Layout`], [`Error::InvalidName`]), so that a
//! [`FanoutCache`](crate::FanoutCache) and its shards report errors of one
//! type.

use std::io;
use std::path::PathBuf;

pub use diskcache_shard::{Error, Result};

/// A filesystem error on `path`.
pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
    Error::io(path, source)
}
