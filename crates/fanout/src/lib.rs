//! A disk cache spread over N independent shards in one directory, so that
//! writers to different shards never contend: python-diskcache's
//! `FanoutCache`, on [`diskcache_shard::Cache`].
//!
//! ```
//! use std::time::Duration;
//! use diskcache_fanout::FanoutCache;
//! use diskcache_shard::{CacheBuilder, SetOptions, Side};
//!
//! let dir = tempfile::tempdir()?;
//! let cache = FanoutCache::builder()
//!     .shards(8)
//!     .size_limit(1 << 30)
//!     // A short timeout: a write that cannot get its shard's lock in time
//!     // returns false ("not stored") instead of waiting.
//!     .cache(CacheBuilder::new().timeout(Duration::from_millis(10)))
//!     .open(dir.path())?;
//!
//! assert!(cache.set("user:1", "ada")?);
//! assert_eq!(cache.get::<String>("user:1")?.as_deref(), Some("ada"));
//! assert_eq!(cache.incr("visits", 1, Some(0))?, Some(1));
//! cache.push(&"job", Some("jobs"), Side::Back)?;
//! assert!(cache.pull::<String>(Some("jobs"), Side::Front)?.is_some());
//!
//! // A named cache under the same directory.
//! let sessions = cache.cache("sessions")?;
//! sessions.set_with("s1", &1, &SetOptions::new().expire(Duration::from_secs(60)))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod builder;
mod bulk;
mod error;
mod fanout;
mod layout;

pub use builder::FanoutBuilder;
pub use bulk::FanoutReport;
pub use error::{Error, Result};
pub use fanout::FanoutCache;
pub use layout::{ShardHash, sub_dir};
