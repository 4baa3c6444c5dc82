//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a [`FanoutCache`](crate::FanoutCache) operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A shard reported an error (see [`diskcache_shard::Error`]).
    Shard(diskcache_shard::Error),
    /// The directory was created with another shard count or hash; opening
    /// it with these would send keys to the wrong shards.
    Layout {
        /// The cache directory.
        path: PathBuf,
        /// What disagrees, in words.
        message: String,
    },
    /// A sub-collection name is empty, absolute, or climbs with `..`.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A filesystem operation failed.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when a shard's lock stayed busy past the timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Shard(e) if e.is_timeout())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shard(e) => write!(f, "{e}"),
            Error::Layout { path, message } => write!(f, "{}: {message}", path.display()),
            Error::InvalidName { name } => write!(f, "invalid sub-collection name {name:?}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Shard(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<diskcache_shard::Error> for Error {
    fn from(e: diskcache_shard::Error) -> Self {
        Error::Shard(e)
    }
}
