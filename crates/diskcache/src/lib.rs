//! A disk-and-file backed cache: persistent, thread-safe and process-safe,
//! with no server to run, on the on-disk format of python-diskcache 5.x.
//!
//! ```
//! use diskcache::{Cache, Deque, FanoutCache, Index};
//! ```
//!
//! is all most programs need:
//!
//! - [`Cache`]: one directory, one SQLite index plus files for large
//!   values. Every write is a transaction; reads never wait for writers.
//! - [`FanoutCache`]: N caches (shards) in one directory; a key goes to one
//!   shard, so writers to different shards never contend. With a short
//!   timeout a busy shard reports "not stored" instead of blocking.
//! - [`Deque`]: a persistent double-ended queue.
//! - [`Index`]: a persistent mapping in insertion order that never evicts.
//! - [`DiskCache`]: the trait a [`Cache`] and a [`FanoutCache`] share, for
//!   code generic over both (with `get_or_insert_with` and an atomic
//!   `update`); through it, a lock busy past the timeout is
//!   [`Error::Timeout`] on both.
//!
//! # A tour
//!
//! ```
//! use std::time::Duration;
//! use diskcache::{Cache, CacheBuilder, Deque, EvictionPolicy, FanoutCache, Index, Named, SetOptions};
//!
//! # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
//! // A cache bounded to 64 MiB that evicts the least recently used entries.
//! let cache = Cache::builder()
//!     .size_limit(64 << 20)
//!     .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
//!     .open(dir.path().join("single"))?;
//! cache.set("answer", &42)?;
//! cache.set_with("session", "token", &SetOptions::new().expire(Duration::from_secs(300)))?;
//! assert_eq!(cache.get::<i64>("answer")?, Some(42));
//!
//! // Any serde type is a value (and a key).
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct User { name: String, admin: bool }
//! cache.set(&("user", 7), &User { name: "ada".into(), admin: true })?;
//! assert!(cache.get::<User>(&("user", 7))?.is_some_and(|u| u.admin));
//!
//! // Eight shards with a 10 ms lock timeout.
//! let fanout = FanoutCache::builder()
//!     .shards(8)
//!     .cache(CacheBuilder::new().timeout(Duration::from_millis(10)))
//!     .open(dir.path().join("fanout"))?;
//! assert!(fanout.set("k", "v")?); // false would mean "not stored in time"
//!
//! // Persistent collections, standalone or named inside a fanout cache.
//! let jobs: Deque<String> = fanout.deque("jobs")?;
//! jobs.append(&"crawl".to_string())?;
//! assert_eq!(jobs.pop_left()?.as_deref(), Some("crawl"));
//! let seen: Index<String, u64> = Index::open(dir.path().join("seen"))?;
//! seen.insert(&"https://example.org".to_string(), &1)?;
//! assert_eq!(seen.len()?, 1);
//! # Ok::<(), diskcache::Error>(())
//! ```
//!
//! # In async code
//!
//! The calls are synchronous and short, so async code can make most of them
//! directly:
//!
//! - Reads (`get`, `contains`, `read`, iteration) never wait for writers
//!   and take microseconds. Under LRU, LFU or statistics, about once a
//!   second a read also writes the accesses it recorded, waiting at most
//!   2 ms for the lock. A file-backed value is read from its file: read a
//!   large one with `read` (a memory map) or on a blocking thread.
//! - A write waits for its shard's lock up to the timeout, 60 s by default.
//!   Give a service a short one, so that a busy shard costs at most that: a
//!   [`FanoutCache`] then answers "not stored" (`false`), a [`Cache`]
//!   [`Error::Timeout`]. Opening waits by its own, longer
//!   [`CacheBuilder::open_timeout`], and only when it has something to
//!   write; a [`FanoutCache`]'s `clear`, `cull`, `expire`, `evict`, setting
//!   changes and `transact` wait out a busy shard rather than stop at it
//!   (on a [`Cache`], [`Cache::retrying`] does the same).
//! - Long calls (`set_reader` of a large value, `clear`, `cull`, `expire`,
//!   `check`) do not belong on a runtime worker. With the `tokio` feature,
//!   `nonblocking::AsyncCache` and `nonblocking::AsyncFanoutCache` wrap a
//!   handle and run every call that touches SQLite on tokio's blocking
//!   pool, and `nonblocking::AsyncLock` waits on the runtime's timer; without it, hand such calls to a blocking
//!   thread yourself (handles are cheap clones, `Send`, `Sync` and
//!   `'static`).
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() -> diskcache::Result<()> {
//! use std::time::Duration;
//! use diskcache::{CacheBuilder, FanoutCache};
//! use diskcache::nonblocking::AsyncFanoutCache;
//!
//! # let dir = tempfile::tempdir().map_err(|e| diskcache::Error::io("tempdir", e))?;
//! let cache = AsyncFanoutCache::new(
//!     FanoutCache::builder()
//!         .cache(CacheBuilder::new().timeout(Duration::from_millis(20)))
//!         .open(dir.path())?,
//! );
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_all()
//!     .build()
//!     .map_err(|e| diskcache::Error::io("runtime", e))?;
//! runtime.block_on(async {
//!     cache.set("page", "<html>…</html>").await?; // Error::Timeout: not stored in 20 ms
//!     assert_eq!(cache.clear().await?, 1); // on the blocking pool
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Errors
//!
//! Every call here, on a [`Cache`], a [`FanoutCache`], a [`Deque`], an
//! [`Index`] or a recipe, returns the one [`Error`] type (an alias of the
//! engine's, [`shard::Error`]), so `?` works across all of them in a
//! function that returns [`Result`]; match on its kinds ([`Error::Timeout`],
//! [`Error::NotFound`], [`Error::TypeMismatch`], [`Error::Pickled`],
//! [`Error::Corrupt`], [`Error::Io`] with its path, …) where the cause
//! matters:
//!
//! ```
//! use std::time::Duration;
//! use diskcache::{Cache, Error, FanoutCache, Result};
//! use diskcache::recipes::Lock;
//!
//! fn warm(dir: &std::path::Path) -> Result<u64> {
//!     let fanout = FanoutCache::open(dir.join("pages"))?;
//!     let single = Cache::open(dir.join("single"))?;
//!     let lock = Lock::new(single.clone(), "warming");
//!     let _held = lock.acquire_timeout(Duration::from_secs(5))?; // Error::WaitTimeout
//!     fanout.set("home", "<html>…</html>")?;
//!     single.set("warmed", &true)?;
//!     fanout.len()
//! }
//! # let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
//! assert_eq!(warm(dir.path())?, 1);
//! # Ok::<(), Error>(())
//! ```
//!
//! The engine's documentation (format, durability, size limits, processes)
//! is in [`shard`]; sharding in [`fanout`].
//!
//! To look into a cache directory from the shell (entries, volume, keys,
//! values; `check --fix` to repair), install the `diskcache` command from
//! the `diskcache-cli` package; it reads python-diskcache's directories
//! too.
//!
//! Runnable examples, in the package's `examples/` directory:
//! `cargo run --release -p diskcache-rs --example tour` (every type above
//! and the [`Memo`](recipes::Memo) recipe on a temporary directory),
//! `--example shared_memo` (one slow fetch shared by three processes through
//! [`Stampede`](recipes::Stampede)) and `--example work_queue` (a
//! [`WorkQueue`] whose consumer is killed mid-way, with every job still done
//! once).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod deque;
mod index;
mod named;
#[cfg(feature = "tokio")]
pub mod nonblocking;
pub mod recipes;
mod shared;
mod work;

/// Recipes solving real problems: caching an expensive call, stampede
/// protection, rate limiting, one-at-a-time work across processes.
#[doc = include_str!("../tutorial.md")]
pub mod tutorial {}

pub use deque::Deque;
pub use diskcache_fanout::{FanoutBuilder, FanoutCache, FanoutReport, ShardHash};
pub use diskcache_shard::{
    Cache, CacheBuilder, CheckReport, Codec, DatabaseRepair, Entry, Error, EvictionPolicy,
    JournalMode, Key, Keys, MappedFile, Problem, QueueIter, Result, Retrying, SetOptions, Settings,
    Side, SqliteSource, Stats, Synchronous, ValueBytes,
};
pub use index::Index;
pub use named::Named;
pub use shared::DiskCache;
pub use work::{Job, WorkQueue};

/// The single-directory cache engine.
pub use diskcache_shard as shard;

/// The sharded cache.
pub use diskcache_fanout as fanout;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
