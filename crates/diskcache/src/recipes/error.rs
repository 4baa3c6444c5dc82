//! The recipes' error type.

use std::fmt;

/// What can go wrong in a recipe.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecipeError {
    /// The cache reported an error.
    Cache(diskcache_shard::Error),
    /// The fanout cache reported an error.
    Fanout(diskcache_fanout::Error),
    /// A lock was released by a thread or process that does not hold it.
    NotHeld,
    /// A bounded semaphore was released more often than acquired.
    ReleasedTooOften,
    /// Waiting for a lock, semaphore or throttle took longer than allowed.
    Timeout,
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipeError::Cache(e) => write!(f, "{e}"),
            RecipeError::Fanout(e) => write!(f, "{e}"),
            RecipeError::NotHeld => f.write_str("released a lock this thread does not hold"),
            RecipeError::ReleasedTooOften => {
                f.write_str("semaphore released more often than acquired")
            }
            RecipeError::Timeout => f.write_str("timed out waiting"),
        }
    }
}

impl std::error::Error for RecipeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecipeError::Cache(e) => Some(e),
            RecipeError::Fanout(e) => Some(e),
            _ => None,
        }
    }
}

impl From<diskcache_shard::Error> for RecipeError {
    fn from(e: diskcache_shard::Error) -> Self {
        RecipeError::Cache(e)
    }
}

impl From<diskcache_fanout::Error> for RecipeError {
    fn from(e: diskcache_fanout::Error) -> Self {
        RecipeError::Fanout(e)
    }
}
